"""The UI's strings in English and Russian, chosen by the user's LANG."""

from __future__ import annotations

STRINGS: dict[str, dict[str, str]] = {
    "en": {
        "app_title": "Duplicate finder",
        "scan_button": "Find duplicates",
        "scan_again": "Scan again",
        "scanning": "Reading records…",
        "scan_done": "{groups} duplicate groups found among {records} records.",
        "no_groups": "No duplicates found.",
        "scan_failed": "The scan failed: {message}",
        "select_all": "Select all",
        "merge_selected": "Merge selected groups",
        "merging": "Merging…",
        "merge_done": "Merging finished.",
        "merge_failed": "The merge failed: {message}",
        "survivor": "kept",
        "created": "Created",
        "phones": "Phones",
        "emails": "E-mails",
        "matched_on": "Matched on",
        "phone": "phone",
        "email": "e-mail",
        "title": "title",
        "title+client": "title and client",
        "phone_extension": "main number, other extension",
        "result_SUCCESS": "Merged into #{kept}",
        "result_CONFLICT": "Fields disagree: finish in Bitrix24",
        "result_ERROR": "Not merged: {message}",
        "resolve": "Resolve in Bitrix24",
        "group": "Group",
        "shared_title": "Sharing a phone, e-mail or a main number (not proposed)",
        "seed_context": "Duplicates of record #{id}",
        "no_context": "Opened without a record: showing the whole list.",
        "cancel": "Cancel",
        "cancelled": "Cancelled.",
        "confirm_merge": "Merge {groups} groups? {records} records will be deleted and folded "
        "into the first record of each group. This cannot be undone.",
        "nothing_selected": "Select at least one group.",
        "contact": "Contacts",
        "lead": "Leads",
        "company": "Companies",
        "deal": "Deals",
        "error_session": "Your session has expired: reopen the app from Bitrix24.",
        "loading": "Loading…",
        "install_title": "Installing the duplicate finder",
        "install_ok": "The app is set up. Finishing the installation…",
        "install_failed": "The set-up did not complete. Close this window and open the app "
        "again to retry.",
        "install_done": "Installation finished. You can close this window.",
        "open_from_portal": "Open this app from your Bitrix24 portal.",
        "setup_incomplete": "The app's set-up on this portal did not complete. An "
        "administrator should open the app once more to finish it.",
    },
    "ru": {
        "app_title": "Поиск дубликатов",
        "scan_button": "Найти дубликаты",
        "scan_again": "Искать снова",
        "scanning": "Читаем записи…",
        "scan_done": "Найдено групп дубликатов: {groups} среди записей: {records}.",
        "no_groups": "Дубликаты не найдены.",
        "scan_failed": "Поиск не удался: {message}",
        "select_all": "Выбрать все",
        "merge_selected": "Объединить выбранные группы",
        "merging": "Объединяем…",
        "merge_done": "Объединение завершено.",
        "merge_failed": "Объединение не удалось: {message}",
        "survivor": "останется",
        "created": "Создан",
        "phones": "Телефоны",
        "emails": "E-mail",
        "matched_on": "Совпадение",
        "phone": "телефон",
        "email": "e-mail",
        "title": "название",
        "title+client": "название и клиент",
        "phone_extension": "номер тот же, добавочный другой",
        "result_SUCCESS": "Объединено в №{kept}",
        "result_CONFLICT": "Поля расходятся: завершите в Битрикс24",
        "result_ERROR": "Не объединено: {message}",
        "resolve": "Завершить в Битрикс24",
        "group": "Группа",
        "shared_title": "Общий телефон, e-mail или номер с другим добавочным (не предлагаются)",
        "seed_context": "Дубликаты записи №{id}",
        "no_context": "Открыто без записи: показан весь список.",
        "cancel": "Отменить",
        "cancelled": "Отменено.",
        "confirm_merge": "Объединить групп: {groups}? Записей будет удалено: {records}, их "
        "данные перейдут в первую запись каждой группы. Это нельзя отменить.",
        "nothing_selected": "Выберите хотя бы одну группу.",
        "contact": "Контакты",
        "lead": "Лиды",
        "company": "Компании",
        "deal": "Сделки",
        "error_session": "Сессия истекла: откройте приложение из Битрикс24 заново.",
        "loading": "Загрузка…",
        "install_title": "Установка поиска дубликатов",
        "install_ok": "Приложение настроено. Завершаем установку…",
        "install_failed": "Настройка не завершилась. Закройте окно и откройте приложение "
        "снова, чтобы повторить.",
        "install_done": "Установка завершена. Окно можно закрыть.",
        "open_from_portal": "Откройте это приложение из своего портала Битрикс24.",
        "setup_incomplete": "Настройка приложения на портале не завершилась. Администратору "
        "нужно открыть приложение ещё раз, чтобы её закончить.",
    },
}


def language(lang: str | None) -> str:
    """The UI language for a Bitrix24 LANG (Russian for ru/ua/by/kz, else English)."""
    value = (lang or "").lower()
    return "ru" if value in ("ru", "ua", "by", "kz") else "en"


def strings(lang: str | None) -> dict[str, str]:
    """All strings of a language."""
    return STRINGS[language(lang)]
