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
        "name": "Name",
        "merge_summary": "Merged: {success}. Need a decision in Bitrix24: {conflict}. "
        "Not merged: {error}.",
        "not_attempted": "Not merged: the job stopped before this group.",
        "error_merge_refused": "Bitrix24 refused the merge: you may not be allowed to change "
        "or delete one of these records.",
        "error_access_denied": "Bitrix24 denied access to one of these records.",
        "error_outcome_unknown": "Bitrix24 did not answer in time, so the merge may or may not "
        "have happened. Check these records in Bitrix24 before merging them again.",
        "error_interrupted": "The app stopped while merging this group. Check these records in "
        "Bitrix24 before merging them again.",
        "error_bitrix": "Bitrix24 answered: {message}",
        "reason_malformed": "The request from the portal is incomplete or malformed.",
        "reason_insecure_portal": "The portal must be reached over HTTPS.",
        "reason_portal_host_not_allowed": "This portal address is not allowed.",
        "reason_application_token_mismatch": "The request did not come from the portal the app "
        "is installed on.",
        "reason_token_of_another_app": "The access token belongs to another application.",
        "reason_member_id_mismatch": "The access token belongs to another portal.",
        "reason_domain_mismatch": "The access token belongs to another portal address.",
        "reason_token_without_user": "The access token names no user.",
        "reason_oauth_server_unavailable": "Bitrix24's authorisation server did not answer; "
        "try again in a minute.",
        "reason_token_rejected": "Bitrix24 did not confirm this request. Reopen the app from "
        "your portal.",
        "reason_portal_uninstalled": "The app was removed from this portal. Install it again to "
        "use it.",
        "reason_setup_failed": "The app could not finish setting itself up on the portal.",
        "reason_installer_not_admin": "Only a portal administrator can install this app.",
        "reason_installation_unfinished": "The app's installation has not been finished on this "
        "portal. An administrator should open the app once (Applications → the app) to "
        "complete it.",
        "reason_internal_error": "Something went wrong on the app's side. It has been logged; "
        "try again in a minute.",
        "reason_unknown": "The request could not be verified.",
        "reason_need_reinstall": "The app's installation on this portal never completed. Please "
        "reinstall the app: a portal administrator opens Applications, removes the app and "
        "installs it again.",
        "reason_reauthorize": "Bitrix24 did not accept this authorisation (the link was used "
        "already or has expired). Open the app again from your Bitrix24 portal to re-authorise.",
        "reason_oauth_server_not_trusted": "The authorisation server named in the request is not "
        "one this app trusts.",
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
        "name": "Имя",
        "merge_summary": "Объединено: {success}. Требуют решения в Битрикс24: {conflict}. "
        "Не объединено: {error}.",
        "not_attempted": "Не объединено: задание остановилось раньше этой группы.",
        "error_merge_refused": "Битрикс24 отказал в объединении: возможно, у вас нет права "
        "изменять или удалять одну из этих записей.",
        "error_access_denied": "Битрикс24 закрыл доступ к одной из этих записей.",
        "error_outcome_unknown": "Битрикс24 не ответил вовремя, и объединение могло как "
        "пройти, так и нет. Проверьте эти записи в Битрикс24, прежде чем объединять снова.",
        "error_interrupted": "Приложение остановилось во время объединения этой группы. "
        "Проверьте эти записи в Битрикс24, прежде чем объединять снова.",
        "error_bitrix": "Ответ Битрикс24: {message}",
        "reason_malformed": "Запрос от портала неполный или повреждён.",
        "reason_insecure_portal": "Портал должен открываться по HTTPS.",
        "reason_portal_host_not_allowed": "Этот адрес портала не разрешён.",
        "reason_application_token_mismatch": "Запрос пришёл не с того портала, на котором "
        "установлено приложение.",
        "reason_token_of_another_app": "Токен доступа принадлежит другому приложению.",
        "reason_member_id_mismatch": "Токен доступа принадлежит другому порталу.",
        "reason_domain_mismatch": "Токен доступа принадлежит другому адресу портала.",
        "reason_token_without_user": "В токене доступа не указан пользователь.",
        "reason_oauth_server_unavailable": "Сервер авторизации Битрикс24 не ответил; "
        "попробуйте через минуту.",
        "reason_token_rejected": "Битрикс24 не подтвердил этот запрос. Откройте приложение "
        "из портала заново.",
        "reason_portal_uninstalled": "Приложение удалено с этого портала. Установите его "
        "снова, чтобы пользоваться им.",
        "reason_setup_failed": "Приложение не смогло завершить настройку на портале.",
        "reason_installer_not_admin": "Установить приложение может только администратор портала.",
        "reason_installation_unfinished": "Установка приложения на этом портале не завершена. "
        "Администратору нужно один раз открыть приложение (Приложения → приложение).",
        "reason_internal_error": "Что-то пошло не так на стороне приложения. Ошибка записана; "
        "попробуйте через минуту.",
        "reason_unknown": "Запрос не удалось проверить.",
        "reason_need_reinstall": "Установка приложения на этом портале так и не завершилась. "
        "Переустановите приложение: администратор портала открывает «Приложения», удаляет "
        "приложение и устанавливает его снова.",
        "reason_reauthorize": "Битрикс24 не принял эту авторизацию (ссылка уже использована или "
        "устарела). Откройте приложение из портала Битрикс24 заново, чтобы авторизоваться.",
        "reason_oauth_server_not_trusted": "Сервер авторизации, указанный в запросе, не входит в "
        "число доверенных.",
    },
}


def language(lang: str | None) -> str:
    """The UI language for a Bitrix24 LANG (Russian for ru/ua/by/kz, else English)."""
    value = (lang or "").lower()
    return "ru" if value in ("ru", "ua", "by", "kz") else "en"


def strings(lang: str | None) -> dict[str, str]:
    """All strings of a language."""
    return STRINGS[language(lang)]
