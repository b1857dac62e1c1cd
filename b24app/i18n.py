"""The UI's strings in English, Russian and German, chosen by the user's LANG."""

from __future__ import annotations

STRINGS: dict[str, dict[str, str]] = {
    "en": {
        "app_title": "Duplicate finder",
        "scan_button": "Find duplicates",
        "scan_again": "Scan again",
        "scanning": "Reading records…",
        "scan_done": "{groups} among {records}.",
        "no_groups": "No duplicates found.",
        "scan_failed": "The scan failed: {message}",
        "select_all": "Select all",
        "merge_selected": "Merge selected groups",
        "merging": "Merging…",
        "merge_done": "Merging finished.",
        "merge_failed": "The merge failed: {message}",
        "survivor": "stays",
        "confirm_line_conflict": (
            "{name}, #{id}: the records differ in some fields, so Bitrix24 is expected to "
            "refuse to merge them and delete nothing; you then finish the group in "
            "Bitrix24."
        ),
        "created": "Created",
        "phones": "Phones",
        "emails": "E-mails",
        "matched_on": "Matched on",
        "phone": "phone",
        "email": "e-mail",
        "title": "title",
        "title+client": "title and client",
        "phone_extension": "main number, other extension",
        "result_SUCCESS": "Merged into {name}, #{kept}",
        "result_CONFLICT": "Fields disagree: finish in Bitrix24",
        "result_ERROR": "Not merged: {message}",
        "resolve": "Resolve in Bitrix24",
        "group": "Group",
        "shared_title": "Sharing a phone, e-mail or a main number (not proposed)",
        "seed_context": "Duplicates of record #{id}",
        "no_context": "Opened without a record: showing the whole list.",
        "cancel": "Cancel",
        "cancelled": "Cancelled.",
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
        "reason_reauthorize_other_user": "This authorisation was completed by another Bitrix24 "
        "user than the one who asked for it, so it was not used. Log in to Bitrix24 as yourself "
        "and open the app again.",
        "reason_oauth_server_not_trusted": "The authorisation server named in the request is not "
        "one this app trusts.",
        "tab_groups": "Duplicates",
        "tab_history": "Merge history",
        "tabs_label": "Sections",
        "page_prev": "Previous",
        "page_next": "Next",
        "page_info": "Groups {from}–{to} of {total}",
        "pager_label": "Pages of groups",
        "select_group": "Select group {n}",
        "review": "Compare fields",
        "review_hide": "Hide comparison",
        "review_loading": "Reading the records from Bitrix24…",
        "records_failed": "Could not read the records: {message}",
        "field": "Field",
        "conflict_badge": "conflict",
        "conflicts_warning": "These fields hold different values: {fields}. Bitrix24 will not "
        "merge this group on its own; you will choose the values in Bitrix24.",
        "no_conflicts": "No field disagrees: Bitrix24 can merge this group on its own.",
        "drop_record": "Remove from group",
        "drop_record_label": "Remove record #{id} from group {n}",
        "survivor_label": "Keep record #{id} (group {n})",
        "not_duplicates": "Not duplicates",
        "not_duplicates_done": "Marked as not duplicates: later scans will not propose it.",
        "undo": "Undo",
        "record_missing": "Record #{id} is no longer visible to you.",
        "group_too_small": "A group needs at least two records.",
        "last_job": "Your last {kind} ({date}): {status}.",
        "reopen": "Open its results",
        "kind_scan": "scan",
        "kind_merge": "merge",
        "status_queued": "waiting",
        "status_running": "running",
        "status_done": "finished",
        "status_failed": "failed",
        "status_cancelled": "cancelled",
        "conflicts_title": "Groups to finish in Bitrix24",
        "errors_title": "Groups that were not merged",
        "history_title": "Every merge made by the app on this portal",
        "filter_result": "Result",
        "filter_user": "User",
        "filter_from": "From",
        "filter_to": "To",
        "filter_all": "All",
        "apply": "Apply",
        "export_csv": "Export CSV",
        "col_when": "When",
        "col_who": "Who",
        "col_type": "Type",
        "col_records": "Records",
        "col_kept": "Kept",
        "col_result": "Result",
        "history_empty": "No merges match.",
        "history_count": "{total} in the history: {success} merged, {conflict} waiting for a "
        "decision in Bitrix24, {error} not merged.",
        "status_SUCCESS": "Merged",
        "status_CONFLICT": "Needs a decision",
        "status_ERROR": "Not merged",
        "user_n": "User #{id}",
        "progress_of": "{done} of {total}",
        "error_conflict": "The records disagree in some fields; Bitrix24 asks a person to choose.",
        "error_rate_limited": "Bitrix24 kept refusing calls because of its request limits. Try "
        "again in a few minutes.",
        "error_reauth_required": "Bitrix24 no longer accepts your authorisation: open the app "
        "again from Bitrix24.",
        "error_auth_failed": "Bitrix24 no longer accepts your authorisation: open the app again "
        "from Bitrix24.",
        "error_app_credentials_invalid": "Bitrix24 refuses the app's credentials: an "
        "administrator must reinstall the app.",
        "error_portal_uninstalled": "The app was removed from this Bitrix24 portal.",
        "error_internal_error": "Something went wrong on the app's side. It has been logged; "
        "try again in a minute.",
        "error_duplicate_search_failed": "Bitrix24 refused the duplicate search.",
        "error_records_busy": "Some of these records are being merged by another job; wait for "
        "it to finish.",
        "error_portal_unavailable": "Bitrix24 did not answer. Try again in a minute.",
        "error_unsupported_entity_type": "This type of record cannot be scanned yet.",
        "field_ID": "ID",
        "field_TITLE": "Title",
        "field_HONORIFIC": "Salutation",
        "field_NAME": "First name",
        "field_SECOND_NAME": "Middle name",
        "field_LAST_NAME": "Last name",
        "field_BIRTHDATE": "Date of birth",
        "field_TYPE_ID": "Type",
        "field_SOURCE_ID": "Source",
        "field_POST": "Position",
        "field_COMMENTS": "Comment",
        "field_EXPORT": "Included in export",
        "field_COMPANY_ID": "Company",
        "field_CONTACT_ID": "Contact",
        "field_LEAD_ID": "Lead",
        "field_COMPANY_TITLE": "Company name",
        "field_STATUS_ID": "Status",
        "field_CURRENCY_ID": "Currency",
        "field_OPPORTUNITY": "Amount",
        "field_COMPANY_TYPE": "Company type",
        "field_INDUSTRY": "Industry",
        "field_EMPLOYEES": "Employees",
        "field_REVENUE": "Annual revenue",
        "field_STAGE_ID": "Stage",
        "field_CATEGORY_ID": "Pipeline",
        "field_BEGINDATE": "Start date",
        "field_CLOSEDATE": "Close date",
        "field_CLOSED": "Closed",
        "field_OPENED": "Available to everyone",
        "field_ASSIGNED_BY_ID": "Responsible person",
        "field_CREATED_BY_ID": "Created by",
        "field_MODIFY_BY_ID": "Modified by",
        "field_DATE_CREATE": "Created",
        "field_DATE_MODIFY": "Modified",
        "field_PHONE": "Phone",
        "field_EMAIL": "E-mail",
        "col_keep": "Keep",
        "drop_short": "Remove",
        "undo_drop_label": "Undo: put record #{id} back into group {n}",
        "intro": "A scan reads the records of this list that you may see and proposes groups "
        "of duplicates: records that share a phone number or an e-mail and whose names agree "
        "(companies also by name, deals by title and client). Nothing changes in Bitrix24 "
        "until you confirm a merge.",
        "client": "Client",
        "yes": "Yes",
        "no": "No",
        "error_unknown": "Bitrix24 gave no reason.",
        "tab_settings": "Settings",
        "settings_title": "Settings of the app on this portal",
        "phone_country": "Country of phone numbers written without a country code",
        "phone_country_none": "None: compare such numbers as written",
        "phone_country_help": "Set at installation from the portal's language. Numbers with a "
        "country code are always read correctly.",
        "save": "Save",
        "settings_saved": "Saved. The next scan reads phone numbers this way.",
        "settings_admin_only": "Only a portal administrator can change the settings.",
        "csv_when": "Date and time",
        "csv_user_id": "User ID",
        "csv_user": "User",
        "csv_type": "Type",
        "csv_records": "Records",
        "csv_kept": "Kept record",
        "csv_merged": "Deleted records",
        "csv_result": "Result",
        "csv_reason": "Reason",
        "csv_link": "Manual merge page",
    },
    "ru": {
        "app_title": "Поиск дубликатов",
        "scan_button": "Найти дубликаты",
        "scan_again": "Искать снова",
        "scanning": "Читаем записи…",
        "scan_done": "{groups} среди {records}.",
        "no_groups": "Дубликаты не найдены.",
        "scan_failed": "Поиск не удался: {message}",
        "select_all": "Выбрать все",
        "merge_selected": "Объединить выбранные группы",
        "merging": "Объединяем…",
        "merge_done": "Объединение завершено.",
        "merge_failed": "Объединение не удалось: {message}",
        "survivor": "останется",
        "confirm_line_conflict": (
            "{name}, №{id}: в записях различаются поля, поэтому Битрикс24, скорее всего, не "
            "объединит их и ничего не удалит; группу тогда можно будет завершить в "
            "Битрикс24."
        ),
        "created": "Создан",
        "phones": "Телефоны",
        "emails": "E-mail",
        "matched_on": "Совпадение",
        "phone": "телефон",
        "email": "e-mail",
        "title": "название",
        "title+client": "название и клиент",
        "phone_extension": "номер тот же, добавочный другой",
        "result_SUCCESS": "Объединено в {name}, №{kept}",
        "result_CONFLICT": "Поля расходятся: завершите в Битрикс24",
        "result_ERROR": "Не объединено: {message}",
        "resolve": "Завершить в Битрикс24",
        "group": "Группа",
        "shared_title": "Общий телефон, e-mail или номер с другим добавочным (не предлагаются)",
        "seed_context": "Дубликаты записи №{id}",
        "no_context": "Открыто без записи: показан весь список.",
        "cancel": "Отменить",
        "cancelled": "Отменено.",
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
        "reason_reauthorize_other_user": "Эту авторизацию завершил другой пользователь "
        "Битрикс24, а не тот, кто её запросил, поэтому она не использована. Войдите в Битрикс24 "
        "под своей учётной записью и откройте приложение заново.",
        "reason_oauth_server_not_trusted": "Сервер авторизации, указанный в запросе, не входит в "
        "число доверенных.",
        "tab_groups": "Дубликаты",
        "tab_history": "История объединений",
        "tabs_label": "Разделы",
        "page_prev": "Назад",
        "page_next": "Далее",
        "page_info": "Группы {from}–{to} из {total}",
        "pager_label": "Страницы групп",
        "select_group": "Выбрать группу {n}",
        "review": "Сравнить поля",
        "review_hide": "Скрыть сравнение",
        "review_loading": "Читаем записи из Битрикс24…",
        "records_failed": "Не удалось прочитать записи: {message}",
        "field": "Поле",
        "conflict_badge": "конфликт",
        "conflicts_warning": "В этих полях разные значения: {fields}. Битрикс24 не объединит "
        "эту группу сам; значения вы выберете в Битрикс24.",
        "no_conflicts": "Поля не расходятся: Битрикс24 может объединить эту группу сам.",
        "drop_record": "Убрать из группы",
        "drop_record_label": "Убрать запись №{id} из группы {n}",
        "survivor_label": "Оставить запись №{id} (группа {n})",
        "not_duplicates": "Не дубликаты",
        "not_duplicates_done": "Отмечено как не дубликаты: следующие поиски её не предложат.",
        "undo": "Вернуть",
        "record_missing": "Запись №{id} вам больше не видна.",
        "group_too_small": "В группе должно быть хотя бы две записи.",
        "last_job": "Ваше последнее задание — {kind} ({date}): {status}.",
        "reopen": "Открыть результаты",
        "kind_scan": "поиск",
        "kind_merge": "объединение",
        "status_queued": "ожидает",
        "status_running": "выполняется",
        "status_done": "завершено",
        "status_failed": "не удалось",
        "status_cancelled": "отменено",
        "conflicts_title": "Группы, которые нужно завершить в Битрикс24",
        "errors_title": "Группы, которые не объединились",
        "history_title": "Все объединения, сделанные приложением на этом портале",
        "filter_result": "Результат",
        "filter_user": "Пользователь",
        "filter_from": "С",
        "filter_to": "По",
        "filter_all": "Все",
        "apply": "Применить",
        "export_csv": "Выгрузить CSV",
        "col_when": "Когда",
        "col_who": "Кто",
        "col_type": "Тип",
        "col_records": "Записи",
        "col_kept": "Осталась",
        "col_result": "Результат",
        "history_empty": "Подходящих объединений нет.",
        "history_count": "В истории {total}: объединено — {success}, ждут решения в Битрикс24 "
        "— {conflict}, не объединено — {error}.",
        "status_SUCCESS": "Объединено",
        "status_CONFLICT": "Нужно решение",
        "status_ERROR": "Не объединено",
        "user_n": "Пользователь №{id}",
        "progress_of": "{done} из {total}",
        "error_conflict": "Записи расходятся в некоторых полях; Битрикс24 просит человека выбрать.",
        "error_rate_limited": "Битрикс24 отклонял запросы из-за своих ограничений. Попробуйте "
        "через несколько минут.",
        "error_reauth_required": "Битрикс24 больше не принимает вашу авторизацию: откройте "
        "приложение из Битрикс24 заново.",
        "error_auth_failed": "Битрикс24 больше не принимает вашу авторизацию: откройте "
        "приложение из Битрикс24 заново.",
        "error_app_credentials_invalid": "Битрикс24 не принимает ключи приложения: "
        "администратору нужно переустановить приложение.",
        "error_portal_uninstalled": "Приложение удалено с этого портала Битрикс24.",
        "error_internal_error": "Что-то пошло не так на стороне приложения. Ошибка записана; "
        "попробуйте через минуту.",
        "error_duplicate_search_failed": "Битрикс24 отказал в поиске дубликатов.",
        "error_records_busy": "Часть этих записей сейчас объединяет другое задание; дождитесь "
        "его окончания.",
        "error_portal_unavailable": "Битрикс24 не ответил. Попробуйте через минуту.",
        "error_unsupported_entity_type": "Записи этого типа пока нельзя проверить.",
        "field_ID": "ID",
        "field_TITLE": "Название",
        "field_HONORIFIC": "Обращение",
        "field_NAME": "Имя",
        "field_SECOND_NAME": "Отчество",
        "field_LAST_NAME": "Фамилия",
        "field_BIRTHDATE": "Дата рождения",
        "field_TYPE_ID": "Тип",
        "field_SOURCE_ID": "Источник",
        "field_POST": "Должность",
        "field_COMMENTS": "Комментарий",
        "field_EXPORT": "Участвует в экспорте",
        "field_COMPANY_ID": "Компания",
        "field_CONTACT_ID": "Контакт",
        "field_LEAD_ID": "Лид",
        "field_COMPANY_TITLE": "Название компании",
        "field_STATUS_ID": "Статус",
        "field_CURRENCY_ID": "Валюта",
        "field_OPPORTUNITY": "Сумма",
        "field_COMPANY_TYPE": "Тип компании",
        "field_INDUSTRY": "Сфера деятельности",
        "field_EMPLOYEES": "Кол-во сотрудников",
        "field_REVENUE": "Годовой оборот",
        "field_STAGE_ID": "Стадия",
        "field_CATEGORY_ID": "Воронка",
        "field_BEGINDATE": "Дата начала",
        "field_CLOSEDATE": "Дата завершения",
        "field_CLOSED": "Закрыта",
        "field_OPENED": "Доступна для всех",
        "field_ASSIGNED_BY_ID": "Ответственный",
        "field_CREATED_BY_ID": "Кем создана",
        "field_MODIFY_BY_ID": "Кем изменена",
        "field_DATE_CREATE": "Дата создания",
        "field_DATE_MODIFY": "Дата изменения",
        "field_PHONE": "Телефон",
        "field_EMAIL": "E-mail",
        "col_keep": "Оставить",
        "drop_short": "Убрать",
        "undo_drop_label": "Отменить: вернуть запись №{id} в группу {n}",
        "intro": "Поиск читает записи этого списка, которые вам доступны, и предлагает группы "
        "дубликатов: записи с общим телефоном или e-mail, у которых совпадают имена (компании "
        "сравниваются и по названию, сделки — по названию и клиенту). В Битрикс24 ничего не "
        "меняется, пока вы не подтвердите объединение.",
        "client": "Клиент",
        "yes": "Да",
        "no": "Нет",
        "error_unknown": "Битрикс24 не назвал причину.",
        "tab_settings": "Настройки",
        "settings_title": "Настройки приложения на этом портале",
        "phone_country": "Страна для телефонов, записанных без кода страны",
        "phone_country_none": "Не задана: такие номера сравниваются как записаны",
        "phone_country_help": "Задаётся при установке по языку портала. Номера с кодом страны "
        "всегда читаются верно.",
        "save": "Сохранить",
        "settings_saved": "Сохранено. Следующий поиск прочитает номера так.",
        "settings_admin_only": "Изменять настройки может только администратор портала.",
        "csv_when": "Дата и время",
        "csv_user_id": "ID пользователя",
        "csv_user": "Пользователь",
        "csv_type": "Тип",
        "csv_records": "Записи",
        "csv_kept": "Оставленная запись",
        "csv_merged": "Удалённые записи",
        "csv_result": "Результат",
        "csv_reason": "Причина",
        "csv_link": "Страница ручного объединения",
    },
    "de": {
        "app_title": "Dublettensuche",
        "scan_button": "Dubletten suchen",
        "scan_again": "Erneut suchen",
        "scanning": "Datensätze werden gelesen…",
        "scan_done": "{groups} unter {records} gefunden.",
        "no_groups": "Keine Dubletten gefunden.",
        "scan_failed": "Die Suche ist fehlgeschlagen: {message}",
        "select_all": "Alle auswählen",
        "merge_selected": "Ausgewählte Gruppen zusammenführen",
        "merging": "Wird zusammengeführt…",
        "merge_done": "Zusammenführung beendet.",
        "merge_failed": "Die Zusammenführung ist fehlgeschlagen: {message}",
        "survivor": "bleibt",
        "confirm_line_conflict": (
            "{name}, #{id}: Die Datensätze unterscheiden sich in einigen Feldern, daher "
            "wird Bitrix24 sie voraussichtlich nicht zusammenführen und nichts löschen; die "
            "Gruppe schließen Sie dann in Bitrix24 ab."
        ),
        "created": "Erstellt",
        "phones": "Telefon",
        "emails": "E-Mail",
        "matched_on": "Übereinstimmung",
        "phone": "Telefon",
        "email": "E-Mail",
        "title": "Name",
        "title+client": "Name und Kunde",
        "phone_extension": "gleiche Nummer, andere Durchwahl",
        "result_SUCCESS": "Zusammengeführt in {name}, #{kept}",
        "result_CONFLICT": "Felder weichen ab: in Bitrix24 abschließen",
        "result_ERROR": "Nicht zusammengeführt: {message}",
        "resolve": "In Bitrix24 abschließen",
        "group": "Gruppe",
        "shared_title": "Gemeinsames Telefon, E-Mail oder Hauptnummer (nicht vorgeschlagen)",
        "seed_context": "Dubletten von Datensatz #{id}",
        "no_context": "Ohne Datensatz geöffnet: die ganze Liste wird gezeigt.",
        "cancel": "Abbrechen",
        "cancelled": "Abgebrochen.",
        "nothing_selected": "Wählen Sie mindestens eine Gruppe aus.",
        "contact": "Kontakte",
        "lead": "Leads",
        "company": "Unternehmen",
        "deal": "Aufträge",
        "error_session": "Ihre Sitzung ist abgelaufen: öffnen Sie die App erneut aus Bitrix24.",
        "loading": "Wird geladen…",
        "install_title": "Dublettensuche wird installiert",
        "install_ok": "Die App ist eingerichtet. Die Installation wird abgeschlossen…",
        "install_failed": "Die Einrichtung wurde nicht abgeschlossen. Schließen Sie dieses "
        "Fenster und öffnen Sie die App erneut, um es noch einmal zu versuchen.",
        "install_done": "Installation abgeschlossen. Sie können dieses Fenster schließen.",
        "open_from_portal": "Öffnen Sie diese App aus Ihrem Bitrix24-Portal.",
        "setup_incomplete": "Die Einrichtung der App in diesem Portal wurde nicht abgeschlossen. "
        "Ein Administrator sollte die App noch einmal öffnen, um sie abzuschließen.",
        "name": "Name",
        "not_attempted": "Nicht zusammengeführt: der Auftrag endete vor dieser Gruppe.",
        "error_merge_refused": "Bitrix24 hat die Zusammenführung abgelehnt: Sie dürfen einen "
        "dieser Datensätze möglicherweise nicht ändern oder löschen.",
        "error_access_denied": "Bitrix24 hat den Zugriff auf einen dieser Datensätze verweigert.",
        "error_outcome_unknown": "Bitrix24 hat nicht rechtzeitig geantwortet; die "
        "Zusammenführung ist vielleicht geschehen, vielleicht nicht. Prüfen Sie diese "
        "Datensätze in Bitrix24, bevor Sie sie erneut zusammenführen.",
        "error_interrupted": "Die App wurde während der Zusammenführung dieser Gruppe beendet. "
        "Prüfen Sie diese Datensätze in Bitrix24, bevor Sie sie erneut zusammenführen.",
        "error_bitrix": "Antwort von Bitrix24: {message}",
        "reason_malformed": "Die Anfrage des Portals ist unvollständig oder fehlerhaft.",
        "reason_insecure_portal": "Das Portal muss über HTTPS erreichbar sein.",
        "reason_portal_host_not_allowed": "Diese Portaladresse ist nicht zulässig.",
        "reason_application_token_mismatch": "Die Anfrage kam nicht von dem Portal, in dem die "
        "App installiert ist.",
        "reason_token_of_another_app": "Das Zugriffstoken gehört zu einer anderen App.",
        "reason_member_id_mismatch": "Das Zugriffstoken gehört zu einem anderen Portal.",
        "reason_domain_mismatch": "Das Zugriffstoken gehört zu einer anderen Portaladresse.",
        "reason_token_without_user": "Das Zugriffstoken nennt keinen Benutzer.",
        "reason_oauth_server_unavailable": "Der Autorisierungsserver von Bitrix24 hat nicht "
        "geantwortet; versuchen Sie es in einer Minute erneut.",
        "reason_token_rejected": "Bitrix24 hat diese Anfrage nicht bestätigt. Öffnen Sie die App "
        "erneut aus Ihrem Portal.",
        "reason_portal_uninstalled": "Die App wurde aus diesem Portal entfernt. Installieren Sie "
        "sie erneut, um sie zu nutzen.",
        "reason_setup_failed": "Die App konnte ihre Einrichtung im Portal nicht abschließen.",
        "reason_installer_not_admin": "Nur ein Portaladministrator kann diese App installieren.",
        "reason_installation_unfinished": "Die Installation der App in diesem Portal ist nicht "
        "abgeschlossen. Ein Administrator sollte die App einmal öffnen (Anwendungen → die App), "
        "um sie abzuschließen.",
        "reason_internal_error": "Auf Seiten der App ist etwas schiefgegangen. Es wurde "
        "protokolliert; versuchen Sie es in einer Minute erneut.",
        "reason_unknown": "Die Anfrage konnte nicht überprüft werden.",
        "reason_need_reinstall": "Die Installation der App in diesem Portal wurde nie "
        "abgeschlossen. Bitte installieren Sie die App neu: ein Portaladministrator öffnet "
        "Anwendungen, entfernt die App und installiert sie erneut.",
        "reason_reauthorize": "Bitrix24 hat diese Autorisierung nicht angenommen (der Link wurde "
        "schon verwendet oder ist abgelaufen). Öffnen Sie die App erneut aus Ihrem "
        "Bitrix24-Portal, um sich neu zu autorisieren.",
        "reason_reauthorize_other_user": "Diese Autorisierung hat ein anderer Bitrix24-Benutzer "
        "abgeschlossen als der, der sie angefordert hat; sie wurde daher nicht verwendet. Melden "
        "Sie sich in Bitrix24 mit Ihrem eigenen Konto an und öffnen Sie die App erneut.",
        "reason_oauth_server_not_trusted": "Der in der Anfrage genannte Autorisierungsserver "
        "gehört nicht zu denen, welchen die App vertraut.",
        "tab_groups": "Dubletten",
        "tab_history": "Verlauf der Zusammenführungen",
        "tabs_label": "Bereiche",
        "page_prev": "Zurück",
        "page_next": "Weiter",
        "page_info": "Gruppen {from}–{to} von {total}",
        "pager_label": "Seiten der Gruppen",
        "select_group": "Gruppe {n} auswählen",
        "review": "Felder vergleichen",
        "review_hide": "Vergleich ausblenden",
        "review_loading": "Datensätze werden aus Bitrix24 gelesen…",
        "records_failed": "Die Datensätze konnten nicht gelesen werden: {message}",
        "field": "Feld",
        "conflict_badge": "Konflikt",
        "conflicts_warning": "Diese Felder enthalten verschiedene Werte: {fields}. Bitrix24 "
        "führt diese Gruppe nicht selbst zusammen; Sie wählen die Werte in Bitrix24.",
        "no_conflicts": "Kein Feld weicht ab: Bitrix24 kann diese Gruppe selbst zusammenführen.",
        "drop_record": "Aus der Gruppe entfernen",
        "drop_record_label": "Entfernen: Datensatz #{id} aus Gruppe {n}",
        "survivor_label": "Datensatz #{id} behalten (Gruppe {n})",
        "not_duplicates": "Keine Dubletten",
        "not_duplicates_done": "Als keine Dubletten markiert: spätere Suchen schlagen sie nicht "
        "mehr vor.",
        "undo": "Rückgängig",
        "record_missing": "Datensatz #{id} ist für Sie nicht mehr sichtbar.",
        "group_too_small": "Eine Gruppe braucht mindestens zwei Datensätze.",
        "last_job": "Ihr letzter Auftrag – {kind} ({date}): {status}.",
        "reopen": "Ergebnisse öffnen",
        "kind_scan": "Suche",
        "kind_merge": "Zusammenführung",
        "status_queued": "wartet",
        "status_running": "läuft",
        "status_done": "beendet",
        "status_failed": "fehlgeschlagen",
        "status_cancelled": "abgebrochen",
        "conflicts_title": "In Bitrix24 abzuschließende Gruppen",
        "errors_title": "Nicht zusammengeführte Gruppen",
        "history_title": "Alle Zusammenführungen der App in diesem Portal",
        "filter_result": "Ergebnis",
        "filter_user": "Benutzer",
        "filter_from": "Von",
        "filter_to": "Bis",
        "filter_all": "Alle",
        "apply": "Anwenden",
        "export_csv": "Als CSV exportieren",
        "col_when": "Wann",
        "col_who": "Wer",
        "col_type": "Typ",
        "col_records": "Datensätze",
        "col_kept": "Behalten",
        "col_result": "Ergebnis",
        "history_empty": "Keine passenden Zusammenführungen.",
        "history_count": "{total} im Verlauf: {success} zusammengeführt, bei {conflict} ist "
        "eine Entscheidung in Bitrix24 nötig, {error} nicht zusammengeführt.",
        "status_SUCCESS": "Zusammengeführt",
        "status_CONFLICT": "Entscheidung nötig",
        "status_ERROR": "Nicht zusammengeführt",
        "user_n": "Benutzer #{id}",
        "progress_of": "{done} von {total}",
        "error_conflict": "Die Datensätze weichen in einigen Feldern ab; Bitrix24 lässt einen "
        "Menschen wählen.",
        "error_rate_limited": "Bitrix24 hat Aufrufe wegen seiner Anfragelimits abgelehnt. "
        "Versuchen Sie es in einigen Minuten erneut.",
        "error_reauth_required": "Bitrix24 akzeptiert Ihre Autorisierung nicht mehr: öffnen Sie "
        "die App erneut aus Bitrix24.",
        "error_auth_failed": "Bitrix24 akzeptiert Ihre Autorisierung nicht mehr: öffnen Sie die "
        "App erneut aus Bitrix24.",
        "error_app_credentials_invalid": "Bitrix24 lehnt die Zugangsdaten der App ab: ein "
        "Administrator muss die App neu installieren.",
        "error_portal_uninstalled": "Die App wurde aus diesem Bitrix24-Portal entfernt.",
        "error_internal_error": "Auf Seiten der App ist etwas schiefgegangen. Es wurde "
        "protokolliert; versuchen Sie es in einer Minute erneut.",
        "error_duplicate_search_failed": "Bitrix24 hat die Dublettensuche abgelehnt.",
        "error_records_busy": "Einige dieser Datensätze werden gerade von einem anderen Auftrag "
        "zusammengeführt; warten Sie, bis er fertig ist.",
        "error_portal_unavailable": "Bitrix24 hat nicht geantwortet. Versuchen Sie es in einer "
        "Minute erneut.",
        "error_unsupported_entity_type": "Datensätze dieses Typs können noch nicht durchsucht "
        "werden.",
        "field_ID": "ID",
        "field_TITLE": "Name",
        "field_HONORIFIC": "Anrede",
        "field_NAME": "Vorname",
        "field_SECOND_NAME": "Zweiter Vorname",
        "field_LAST_NAME": "Nachname",
        "field_BIRTHDATE": "Geburtsdatum",
        "field_TYPE_ID": "Typ",
        "field_SOURCE_ID": "Quelle",
        "field_POST": "Position",
        "field_COMMENTS": "Kommentar",
        "field_EXPORT": "Im Export enthalten",
        "field_COMPANY_ID": "Unternehmen",
        "field_CONTACT_ID": "Kontakt",
        "field_LEAD_ID": "Lead",
        "field_COMPANY_TITLE": "Unternehmensname",
        "field_STATUS_ID": "Status",
        "field_CURRENCY_ID": "Währung",
        "field_OPPORTUNITY": "Betrag",
        "field_COMPANY_TYPE": "Unternehmenstyp",
        "field_INDUSTRY": "Branche",
        "field_EMPLOYEES": "Mitarbeiter",
        "field_REVENUE": "Jahresumsatz",
        "field_STAGE_ID": "Phase",
        "field_CATEGORY_ID": "Pipeline",
        "field_BEGINDATE": "Startdatum",
        "field_CLOSEDATE": "Abschlussdatum",
        "field_CLOSED": "Abgeschlossen",
        "field_OPENED": "Für alle verfügbar",
        "field_ASSIGNED_BY_ID": "Verantwortlich",
        "field_CREATED_BY_ID": "Erstellt von",
        "field_MODIFY_BY_ID": "Geändert von",
        "field_DATE_CREATE": "Erstellt am",
        "field_DATE_MODIFY": "Geändert am",
        "field_PHONE": "Telefon",
        "field_EMAIL": "E-Mail",
        "col_keep": "Behalten",
        "drop_short": "Entfernen",
        "undo_drop_label": "Rückgängig: Datensatz #{id} wieder in Gruppe {n} aufnehmen",
        "intro": "Die Suche liest die Datensätze dieser Liste, die Sie sehen dürfen, und "
        "schlägt Dublettengruppen vor: Datensätze mit gemeinsamer Telefonnummer oder E-Mail, "
        "deren Namen übereinstimmen (Unternehmen auch nach Namen, Aufträge nach Name und "
        "Kunde). In Bitrix24 ändert sich nichts, bis Sie eine Zusammenführung bestätigen.",
        "client": "Kunde",
        "yes": "Ja",
        "no": "Nein",
        "error_unknown": "Bitrix24 hat keinen Grund genannt.",
        "tab_settings": "Einstellungen",
        "settings_title": "Einstellungen der App in diesem Portal",
        "phone_country": "Land für Telefonnummern ohne Ländervorwahl",
        "phone_country_none": "Keines: solche Nummern werden wie geschrieben verglichen",
        "phone_country_help": "Wird bei der Installation aus der Sprache des Portals gesetzt. "
        "Nummern mit Ländervorwahl werden immer richtig gelesen.",
        "save": "Speichern",
        "settings_saved": "Gespeichert. Die nächste Suche liest Nummern so.",
        "settings_admin_only": "Nur ein Portaladministrator kann die Einstellungen ändern.",
        "csv_when": "Datum und Uhrzeit",
        "csv_user_id": "Benutzer-ID",
        "csv_user": "Benutzer",
        "csv_type": "Typ",
        "csv_records": "Datensätze",
        "csv_kept": "Behaltener Datensatz",
        "csv_merged": "Gelöschte Datensätze",
        "csv_result": "Ergebnis",
        "csv_reason": "Grund",
        "csv_link": "Seite zum manuellen Zusammenführen",
    },
}

# CLDR plural categories each language needs for whole numbers.
PLURAL_CATEGORIES: dict[str, tuple[str, ...]] = {
    "en": ("one", "other"),
    "ru": ("one", "few", "many", "other"),
    "de": ("one", "other"),
}
# Messages that hold a count, in every plural form the language has ({n} is the count).
PLURALS: dict[str, dict[str, dict[str, str]]] = {
    "en": {
        "groups_found": {
            "one": "{n} duplicate group found",
            "other": "{n} duplicate groups found",
        },
        "among_records": {
            "one": "{n} record",
            "other": "{n} records",
        },
        "hidden_groups": {
            "one": "{n} group marked as not duplicates is not shown.",
            "other": "{n} groups marked as not duplicates are not shown.",
        },
        "confirm_title": {
            "one": "Merge {n} group? This cannot be undone in Bitrix24.",
            "other": "Merge {n} groups? This cannot be undone in Bitrix24.",
        },
        "confirm_more": {
            "one": "…and {n} more group.",
            "other": "…and {n} more groups.",
        },
        "confirm_line_contact": {
            "one": "{n} contact will be deleted and folded into {name}, #{id}.",
            "other": "{n} contacts will be deleted and folded into {name}, #{id}.",
        },
        "confirm_line_lead": {
            "one": "{n} lead will be deleted and folded into {name}, #{id}.",
            "other": "{n} leads will be deleted and folded into {name}, #{id}.",
        },
        "confirm_line_company": {
            "one": "{n} company will be deleted and folded into {name}, #{id}.",
            "other": "{n} companies will be deleted and folded into {name}, #{id}.",
        },
        "confirm_line_deal": {
            "one": "{n} deal will be deleted and folded into {name}, #{id}.",
            "other": "{n} deals will be deleted and folded into {name}, #{id}.",
        },
        "summary_merged": {
            "one": "{n} group merged",
            "other": "{n} groups merged",
        },
        "summary_conflict": {
            "one": "{n} needs a decision in Bitrix24",
            "other": "{n} need a decision in Bitrix24",
        },
        "summary_error": {
            "one": "{n} was not merged",
            "other": "{n} were not merged",
        },
        "history_total": {
            "one": "{n} group",
            "other": "{n} groups",
        },
    },
    "ru": {
        "groups_found": {
            "one": "Найдена {n} группа дубликатов",
            "few": "Найдены {n} группы дубликатов",
            "many": "Найдено {n} групп дубликатов",
            "other": "Найдено {n} группы дубликатов",
        },
        "among_records": {
            "one": "{n} записи",
            "few": "{n} записей",
            "many": "{n} записей",
            "other": "{n} записи",
        },
        "hidden_groups": {
            "one": "{n} группа с отметкой «не дубликаты» не показана.",
            "few": "{n} группы с отметкой «не дубликаты» не показаны.",
            "many": "{n} групп с отметкой «не дубликаты» не показаны.",
            "other": "{n} группы с отметкой «не дубликаты» не показаны.",
        },
        "confirm_title": {
            "one": "Объединить {n} группу? В Битрикс24 это нельзя отменить.",
            "few": "Объединить {n} группы? В Битрикс24 это нельзя отменить.",
            "many": "Объединить {n} групп? В Битрикс24 это нельзя отменить.",
            "other": "Объединить {n} группы? В Битрикс24 это нельзя отменить.",
        },
        "confirm_more": {
            "one": "…и ещё {n} группа.",
            "few": "…и ещё {n} группы.",
            "many": "…и ещё {n} групп.",
            "other": "…и ещё {n} группы.",
        },
        "confirm_line_contact": {
            "one": "Будет удалён {n} контакт, его данные перейдут в контакт {name}, №{id}.",
            "few": "Будут удалены {n} контакта, их данные перейдут в контакт {name}, №{id}.",
            "many": "Будут удалены {n} контактов, их данные перейдут в контакт {name}, №{id}.",
            "other": "Будут удалены {n} контакта, их данные перейдут в контакт {name}, №{id}.",
        },
        "confirm_line_lead": {
            "one": "Будет удалён {n} лид, его данные перейдут в лид {name}, №{id}.",
            "few": "Будут удалены {n} лида, их данные перейдут в лид {name}, №{id}.",
            "many": "Будут удалены {n} лидов, их данные перейдут в лид {name}, №{id}.",
            "other": "Будут удалены {n} лида, их данные перейдут в лид {name}, №{id}.",
        },
        "confirm_line_company": {
            "one": "Будет удалена {n} компания, её данные перейдут в компанию {name}, №{id}.",
            "few": "Будут удалены {n} компании, их данные перейдут в компанию {name}, №{id}.",
            "many": "Будут удалены {n} компаний, их данные перейдут в компанию {name}, №{id}.",
            "other": "Будут удалены {n} компании, их данные перейдут в компанию {name}, №{id}.",
        },
        "confirm_line_deal": {
            "one": "Будет удалена {n} сделка, её данные перейдут в сделку {name}, №{id}.",
            "few": "Будут удалены {n} сделки, их данные перейдут в сделку {name}, №{id}.",
            "many": "Будут удалены {n} сделок, их данные перейдут в сделку {name}, №{id}.",
            "other": "Будут удалены {n} сделки, их данные перейдут в сделку {name}, №{id}.",
        },
        "summary_merged": {
            "one": "Объединена {n} группа",
            "few": "Объединены {n} группы",
            "many": "Объединено {n} групп",
            "other": "Объединено {n} группы",
        },
        "summary_conflict": {
            "one": "{n} ждёт решения в Битрикс24",
            "few": "{n} ждут решения в Битрикс24",
            "many": "{n} ждут решения в Битрикс24",
            "other": "{n} ждут решения в Битрикс24",
        },
        "summary_error": {
            "one": "{n} не объединена",
            "few": "{n} не объединены",
            "many": "{n} не объединено",
            "other": "{n} не объединены",
        },
        "history_total": {
            "one": "{n} группа",
            "few": "{n} группы",
            "many": "{n} групп",
            "other": "{n} группы",
        },
    },
    "de": {
        "groups_found": {
            "one": "{n} Dublettengruppe",
            "other": "{n} Dublettengruppen",
        },
        "among_records": {
            "one": "{n} Datensatz",
            "other": "{n} Datensätzen",
        },
        "hidden_groups": {
            "one": "{n} als „keine Dubletten“ markierte Gruppe wird nicht gezeigt.",
            "other": "{n} als „keine Dubletten“ markierte Gruppen werden nicht gezeigt.",
        },
        "confirm_title": {
            "one": "{n} Gruppe zusammenführen? In Bitrix24 lässt sich das nicht rückgängig machen.",
            "other": "{n} Gruppen zusammenführen? In Bitrix24 lässt sich das nicht rückgängig "
            "machen.",
        },
        "confirm_more": {
            "one": "…und {n} weitere Gruppe.",
            "other": "…und {n} weitere Gruppen.",
        },
        "confirm_line_contact": {
            "one": "{n} Kontakt wird gelöscht, seine Daten gehen an {name}, #{id}.",
            "other": "{n} Kontakte werden gelöscht, ihre Daten gehen an {name}, #{id}.",
        },
        "confirm_line_lead": {
            "one": "{n} Lead wird gelöscht, seine Daten gehen an {name}, #{id}.",
            "other": "{n} Leads werden gelöscht, ihre Daten gehen an {name}, #{id}.",
        },
        "confirm_line_company": {
            "one": "{n} Unternehmen wird gelöscht, seine Daten gehen an {name}, #{id}.",
            "other": "{n} Unternehmen werden gelöscht, ihre Daten gehen an {name}, #{id}.",
        },
        "confirm_line_deal": {
            "one": "{n} Auftrag wird gelöscht, seine Daten gehen an {name}, #{id}.",
            "other": "{n} Aufträge werden gelöscht, ihre Daten gehen an {name}, #{id}.",
        },
        "summary_merged": {
            "one": "{n} Gruppe zusammengeführt",
            "other": "{n} Gruppen zusammengeführt",
        },
        "summary_conflict": {
            "one": "{n} braucht eine Entscheidung in Bitrix24",
            "other": "{n} brauchen eine Entscheidung in Bitrix24",
        },
        "summary_error": {
            "one": "{n} wurde nicht zusammengeführt",
            "other": "{n} wurden nicht zusammengeführt",
        },
        "history_total": {
            "one": "{n} Gruppe",
            "other": "{n} Gruppen",
        },
    },
}


def language(lang: str | None) -> str:
    """The UI language for a LANG: Russian for ru/ua/by/kz, German for de, else English."""
    value = (lang or "").lower()
    if value in ("ru", "ua", "by", "kz"):
        return "ru"
    return "de" if value == "de" else "en"


def strings(lang: str | None) -> dict[str, str]:
    """All strings of a language; a counted message ``key`` as ``key_one``, ``key_few``..."""
    chosen = language(lang)
    table = dict(STRINGS[chosen])
    for key, forms in PLURALS[chosen].items():
        for category, text in forms.items():
            table[f"{key}_{category}"] = text
    return table


def plural(lang: str | None, key: str, count: int) -> str:
    """A counted message for a whole number, by the language's CLDR plural rules."""
    chosen = language(lang)
    forms = PLURALS[chosen][key]
    return forms.get(plural_category(chosen, count), forms["other"]).replace("{n}", str(count))


def plural_category(lang: str, count: int) -> str:
    """The CLDR plural category of a whole number in en, de or ru."""
    if lang != "ru":
        return "one" if count == 1 else "other"
    last, last_two = count % 10, count % 100
    if last == 1 and last_two != 11:
        return "one"
    if 2 <= last <= 4 and not 12 <= last_two <= 14:
        return "few"
    return "many"
