"""What a portal says about its CRM: field descriptions, directories (statuses), pipelines.

Field types, ``statusType`` names and flags are those of ``crm.<type>.fields`` in the REST docs;
directory rows have the shape of ``crm.status.list``. The directory *names* are the portal's
own data: a new portal creates them in its language, and admins may rename them.
"""

from __future__ import annotations

from typing import Any

from .crm import COMPANY, CONTACT, DEAL, LEAD

# (field, type, statusType or None, title as the docs' English portal answers)
_Spec = tuple[str, str, str | None, str]
_TAIL: list[_Spec] = [
    ("OPENED", "char", None, "Available to all"),
    ("ASSIGNED_BY_ID", "user", None, "Responsible"),
    ("CREATED_BY_ID", "user", None, "Created by"),
    ("MODIFY_BY_ID", "user", None, "Modified by"),
    ("DATE_CREATE", "datetime", None, "Creation Date"),
    ("DATE_MODIFY", "datetime", None, "Modification Date"),
]
_PERSON: list[_Spec] = [
    ("HONORIFIC", "crm_status", "HONORIFIC", "Salutation"),
    ("NAME", "string", None, "First Name"),
    ("SECOND_NAME", "string", None, "Middle Name"),
    ("LAST_NAME", "string", None, "Last Name"),
    ("BIRTHDATE", "date", None, "Birthdate"),
]
_MULTI: list[_Spec] = [
    ("PHONE", "crm_multifield", None, "Phone"),
    ("EMAIL", "crm_multifield", None, "E-mail"),
]
FIELD_SPECS: dict[int, list[_Spec]] = {
    CONTACT: [
        ("ID", "integer", None, "ID"),
        *_PERSON,
        ("TYPE_ID", "crm_status", "CONTACT_TYPE", "Contact Type"),
        ("SOURCE_ID", "crm_status", "SOURCE", "Source"),
        ("POST", "string", None, "Position"),
        ("COMMENTS", "string", None, "Comment"),
        ("EXPORT", "char", None, "Participates in contact export"),
        ("HAS_PHONE", "char", None, "Phone set"),
        ("HAS_EMAIL", "char", None, "E-mail set"),
        ("COMPANY_ID", "crm_company", None, "Company"),
        ("LEAD_ID", "crm_lead", None, "Lead"),
        *_TAIL,
        *_MULTI,
    ],
    LEAD: [
        ("ID", "integer", None, "ID"),
        ("TITLE", "string", None, "Lead Title"),
        *_PERSON,
        ("COMPANY_TITLE", "string", None, "Company Name"),
        ("SOURCE_ID", "crm_status", "SOURCE", "Source"),
        ("STATUS_ID", "crm_status", "STATUS", "Stage"),
        ("POST", "string", None, "Position"),
        ("COMMENTS", "string", None, "Comments"),
        ("CURRENCY_ID", "crm_currency", None, "Currency"),
        ("OPPORTUNITY", "double", None, "Amount"),
        ("HAS_PHONE", "char", None, "Phone Provided"),
        ("HAS_EMAIL", "char", None, "Email Provided"),
        ("CONTACT_ID", "crm_contact", None, "Contact"),
        ("COMPANY_ID", "crm_company", None, "Company"),
        *_TAIL,
        *_MULTI,
    ],
    COMPANY: [
        ("ID", "integer", None, "ID"),
        ("TITLE", "string", None, "Company Name"),
        ("COMPANY_TYPE", "crm_status", "COMPANY_TYPE", "Company Type"),
        ("INDUSTRY", "crm_status", "INDUSTRY", "Industry"),
        ("EMPLOYEES", "crm_status", "EMPLOYEES", "Number of Employees"),
        ("CURRENCY_ID", "crm_currency", None, "Currency"),
        ("REVENUE", "double", None, "Annual Revenue"),
        ("COMMENTS", "string", None, "Comment"),
        ("HAS_PHONE", "char", None, "Phone Set"),
        ("HAS_EMAIL", "char", None, "E-mail Set"),
        *_TAIL,
        *_MULTI,
    ],
    DEAL: [
        ("ID", "integer", None, "ID"),
        ("TITLE", "string", None, "Title"),
        ("TYPE_ID", "crm_status", "DEAL_TYPE", "Type"),
        ("STAGE_ID", "crm_status", "DEAL_STAGE", "Deal Stage"),
        ("CATEGORY_ID", "crm_category", None, "Sales Funnel"),
        ("CURRENCY_ID", "crm_currency", None, "Currency"),
        ("OPPORTUNITY", "double", None, "Amount"),
        ("COMPANY_ID", "crm_company", None, "Company"),
        ("CONTACT_ID", "crm_contact", None, "Contact"),
        ("BEGINDATE", "date", None, "Start Date"),
        ("CLOSEDATE", "date", None, "Close Date"),
        ("CLOSED", "char", None, "Closed"),
        ("COMMENTS", "string", None, "Comment"),
        *_TAIL,
    ],
}
_READ_ONLY = {"ID", "HAS_PHONE", "HAS_EMAIL", "CREATED_BY_ID", "MODIFY_BY_ID", "DATE_CREATE"}
_READ_ONLY |= {"DATE_MODIFY"}


def describe_fields(
    entity_type_id: int, user_fields: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """The ``crm.<type>.fields`` result: standard fields, then the portal's custom ones."""
    out: dict[str, dict[str, Any]] = {}
    for name, kind, status_type, title in FIELD_SPECS[entity_type_id]:
        spec: dict[str, Any] = {
            "type": kind,
            "isRequired": False,
            "isReadOnly": name in _READ_ONLY or (name == "LEAD_ID" and entity_type_id == CONTACT),
            "isImmutable": False,
            "isMultiple": kind == "crm_multifield",
            "isDynamic": False,
        }
        if status_type:
            spec["statusType"] = status_type
        spec["title"] = title
        out[name] = spec
    for name, spec in user_fields.items():
        out[name] = {key: value for key, value in spec.items()}
    return out


def user_field_spec(
    name: str, kind: str, label: str, items: list[str] | None, *, multiple: bool, first_id: int
) -> dict[str, Any]:
    """A custom field as crm.<type>.fields describes one (labels apart from the title)."""
    spec: dict[str, Any] = {
        "type": kind,
        "isRequired": False,
        "isReadOnly": False,
        "isImmutable": False,
        "isMultiple": multiple,
        "isDynamic": True,
        "title": name,
        "listLabel": label,
        "formLabel": label,
        "filterLabel": label,
        "settings": {},
    }
    if kind == "enumeration":
        spec["items"] = [
            {"ID": str(first_id + index), "VALUE": value} for index, value in enumerate(items or [])
        ]
    return spec


# Directory items a new portal creates: ENTITY_ID -> [(STATUS_ID, names by language)].
_Names = dict[str, str]
_DIRECTORIES: dict[str, list[tuple[str, _Names]]] = {
    "STATUS": [
        ("NEW", {"en": "Unassigned", "ru": "Не обработан", "de": "Nicht zugewiesen"}),
        ("IN_PROCESS", {"en": "In progress", "ru": "В работе", "de": "In Bearbeitung"}),
        ("PROCESSED", {"en": "Processed", "ru": "Обработан", "de": "Bearbeitet"}),
        ("CONVERTED", {"en": "Good lead", "ru": "Качественный лид", "de": "Guter Lead"}),
        ("JUNK", {"en": "Junk lead", "ru": "Некачественный лид", "de": "Schlechter Lead"}),
    ],
    "SOURCE": [
        ("CALL", {"en": "Call", "ru": "Звонок", "de": "Anruf"}),
        ("EMAIL", {"en": "E-mail", "ru": "Электронная почта", "de": "E-Mail"}),
        ("WEB", {"en": "Website", "ru": "Веб-сайт", "de": "Website"}),
        ("ADVERTISING", {"en": "Advertising", "ru": "Реклама", "de": "Werbung"}),
        ("PARTNER", {"en": "Existing client", "ru": "Существующий клиент", "de": "Bestandskunde"}),
        ("RECOMMENDATION", {"en": "Referral", "ru": "По рекомендации", "de": "Empfehlung"}),
        ("TRADE_SHOW", {"en": "Trade show", "ru": "Выставка", "de": "Messe"}),
        ("WEBFORM", {"en": "CRM form", "ru": "CRM-форма", "de": "CRM-Formular"}),
        ("CALLBACK", {"en": "Callback", "ru": "Обратный звонок", "de": "Rückruf"}),
        ("SELF", {"en": "Personal contact", "ru": "Свой контакт", "de": "Eigener Kontakt"}),
        ("OTHER", {"en": "Other", "ru": "Другое", "de": "Sonstiges"}),
    ],
    "CONTACT_TYPE": [
        ("CLIENT", {"en": "Clients", "ru": "Клиенты", "de": "Kunden"}),
        ("SUPPLIER", {"en": "Suppliers", "ru": "Поставщики", "de": "Lieferanten"}),
        ("PARTNER", {"en": "Partners", "ru": "Партнеры", "de": "Partner"}),
        ("OTHER", {"en": "Other", "ru": "Другое", "de": "Sonstige"}),
    ],
    "COMPANY_TYPE": [
        ("CUSTOMER", {"en": "Client", "ru": "Клиент", "de": "Kunde"}),
        ("SUPPLIER", {"en": "Supplier", "ru": "Поставщик", "de": "Lieferant"}),
        ("COMPETITOR", {"en": "Competitor", "ru": "Конкурент", "de": "Wettbewerber"}),
        ("PARTNER", {"en": "Partner", "ru": "Партнер", "de": "Partner"}),
        ("OTHER", {"en": "Other", "ru": "Другое", "de": "Sonstiges"}),
    ],
    "INDUSTRY": [
        ("IT", {"en": "Information technology", "ru": "Информационные технологии", "de": "IT"}),
        ("TELECOM", {"en": "Telecommunications", "ru": "Телекоммуникации", "de": "Telekom"}),
        ("MANUFACTURING", {"en": "Manufacturing", "ru": "Производство", "de": "Produktion"}),
        ("BANKING", {"en": "Banking", "ru": "Банковские услуги", "de": "Bankwesen"}),
        ("CONSULTING", {"en": "Consulting", "ru": "Консалтинг", "de": "Beratung"}),
        ("FINANCE", {"en": "Finance", "ru": "Финансы", "de": "Finanzen"}),
        ("GOVERNMENT", {"en": "Government", "ru": "Государство", "de": "Behörden"}),
        ("DELIVERY", {"en": "Delivery", "ru": "Доставка", "de": "Lieferdienste"}),
        ("ENTERTAINMENT", {"en": "Entertainment", "ru": "Развлечения", "de": "Unterhaltung"}),
        ("NOTPROFIT", {"en": "Non-profit", "ru": "Некоммерческие", "de": "Gemeinnützig"}),
        ("OTHER", {"en": "Other", "ru": "Другое", "de": "Sonstiges"}),
    ],
    "EMPLOYEES": [
        ("EMPLOYEES_1", {"en": "fewer than 50", "ru": "менее 50", "de": "weniger als 50"}),
        ("EMPLOYEES_2", {"en": "50-250", "ru": "50-250", "de": "50-250"}),
        ("EMPLOYEES_3", {"en": "250-500", "ru": "250-500", "de": "250-500"}),
        ("EMPLOYEES_4", {"en": "over 500", "ru": "более 500", "de": "über 500"}),
    ],
    "DEAL_TYPE": [
        ("SALE", {"en": "Sales", "ru": "Продажа", "de": "Verkauf"}),
        ("COMPLEX", {"en": "Complex sale", "ru": "Комплексная продажа", "de": "Komplexer Verkauf"}),
        ("GOODS", {"en": "Merchandise sale", "ru": "Продажа товара", "de": "Warenverkauf"}),
        ("SERVICES", {"en": "Service sale", "ru": "Продажа услуги", "de": "Dienstleistung"}),
        ("SERVICE", {"en": "After-sales service", "ru": "Сервисное обслуживание", "de": "Service"}),
    ],
    "DEAL_STAGE": [
        ("NEW", {"en": "New", "ru": "Новая", "de": "Neu"}),
        (
            "PREPARATION",
            {
                "en": "Document preparation",
                "ru": "Подготовка документов",
                "de": "Dokumente vorbereiten",
            },
        ),
        (
            "PREPAYMENT_INVOICE",
            {
                "en": "Prepayment invoice",
                "ru": "Счёт на предоплату",
                "de": "Vorauszahlungsrechnung",
            },
        ),
        ("EXECUTING", {"en": "In progress", "ru": "В работе", "de": "In Bearbeitung"}),
        ("FINAL_INVOICE", {"en": "Final invoice", "ru": "Финальный счёт", "de": "Schlussrechnung"}),
        ("WON", {"en": "Deal successful", "ru": "Сделка успешна", "de": "Auftrag gewonnen"}),
        ("LOSE", {"en": "Deal failed", "ru": "Сделка провалена", "de": "Auftrag verloren"}),
        (
            "APOLOGY",
            {
                "en": "Failure reason analysis",
                "ru": "Анализ причины провала",
                "de": "Analyse der Ursache",
            },
        ),
    ],
    "HONORIFIC": [
        ("HNR_RU_1", {"en": "Mr.", "ru": "г-н", "de": "Herr"}),
        ("HNR_RU_2", {"en": "Mrs.", "ru": "г-жа", "de": "Frau"}),
    ],
}
# Stage directories carry semantics: S success, F failure, else in process.
_SEMANTICS = {"WON": "S", "LOSE": "F", "APOLOGY": "F", "CONVERTED": "S", "JUNK": "F"}
_SYSTEM = {"NEW", "WON", "LOSE", "CONVERTED", "JUNK"}
_STAGE_ENTITIES = {"STATUS", "DEAL_STAGE"}
_EXTRA_NAMES = {"S": "success", "F": "failure"}

DEFAULT_PIPELINE = {"en": "General", "ru": "Общая", "de": "Allgemein"}


def default_directories(lang: str) -> list[dict[str, Any]]:
    """The ``crm.status.list`` rows a new portal of this language holds."""
    rows: list[dict[str, Any]] = []
    for entity_id, items in _DIRECTORIES.items():
        for index, (status_id, names) in enumerate(items):
            name = names.get(lang, names["en"])
            system = status_id in _SYSTEM and entity_id in _STAGE_ENTITIES
            row: dict[str, Any] = {
                "ID": str(101 + 2 * len(rows)),
                "ENTITY_ID": entity_id,
                "STATUS_ID": status_id,
                "NAME": name,
                "NAME_INIT": name if system else "",
                "SORT": str(10 * (index + 1)),
                "SYSTEM": "Y" if system else "N",
                "CATEGORY_ID": None,
                "COLOR": "",
                "SEMANTICS": None,
            }
            if entity_id in _STAGE_ENTITIES:
                semantics = _SEMANTICS.get(status_id)
                row["COLOR"] = {"S": "#7BD500", "F": "#FF5752"}.get(semantics or "", "#39A8EF")
                row["SEMANTICS"] = semantics
                row["EXTRA"] = {
                    "SEMANTICS": _EXTRA_NAMES.get(semantics or "", "process"),
                    "COLOR": row["COLOR"],
                }
            rows.append(row)
    return rows


def default_pipelines(lang: str) -> list[dict[str, Any]]:
    """The deal pipelines (``crm.category.list``) of a new portal: the default one."""
    name = DEFAULT_PIPELINE.get(lang, DEFAULT_PIPELINE["en"])
    return [{"id": 0, "name": name, "sort": 300, "entityTypeId": DEAL, "isDefault": "Y"}]
