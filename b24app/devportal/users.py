"""Portal users and their CRM rights."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class User:
    """A portal employee; CRM rights apply to every CRM entity type alike."""

    id: int
    name: str
    last_name: str
    email: str
    admin: bool = False
    can_read: bool = True
    can_add: bool = True
    can_update: bool = True
    can_delete: bool = True
    # The user's own interface language; None means the portal's.
    lang: str | None = None

    @property
    def full_name(self) -> str:
        """Return 'Name Last-name'."""
        return f"{self.name} {self.last_name}".strip()

    def may(self, right: str) -> bool:
        """Return whether the user holds a CRM right (admins hold all)."""
        if self.admin:
            return True
        return bool(getattr(self, f"can_{right}"))

    def as_user_current(self, lang: str) -> dict[str, Any]:
        """Return the `user.current` shape."""
        return {
            "ID": str(self.id),
            "XML_ID": f"emu-{self.id}",
            "ACTIVE": True,
            "NAME": self.name,
            "LAST_NAME": self.last_name,
            "SECOND_NAME": "",
            "EMAIL": self.email,
            "LAST_LOGIN": "2024-01-01T09:00:00+00:00",
            "DATE_REGISTER": "2020-01-01T00:00:00+00:00",
            "IS_ONLINE": "Y",
            "TIME_ZONE": "",
            "TIME_ZONE_OFFSET": "0",
            "TIMESTAMP_X": "2024-01-01 09:00:00",
            "PERSONAL_GENDER": "",
            "PERSONAL_PHOTO": "",
            "WORK_POSITION": "Administrator" if self.admin else "Manager",
            "UF_DEPARTMENT": [1],
            "USER_TYPE": "employee",
            "LANGUAGE_ID": lang,
        }

    def as_user_get(self) -> dict[str, Any]:
        """Return one row of `user.get`."""
        return {
            "ID": str(self.id),
            "ACTIVE": True,
            "NAME": self.name,
            "LAST_NAME": self.last_name,
            "SECOND_NAME": "",
            "EMAIL": self.email,
            "LAST_LOGIN": "2024-01-01T09:00:00+00:00",
            "DATE_REGISTER": "2020-01-01T00:00:00+00:00",
            "TIME_ZONE": "",
            "IS_ONLINE": "Y",
            "PERSONAL_GENDER": "",
            "PERSONAL_BIRTHDAY": "",
            "WORK_POSITION": "Administrator" if self.admin else "Manager",
            "UF_EMPLOYMENT_DATE": "",
            "UF_DEPARTMENT": [1],
            "USER_TYPE": "employee",
        }

    def as_profile(self) -> dict[str, Any]:
        """Return the `profile` shape."""
        return {
            "ID": str(self.id),
            "ADMIN": self.admin,
            "NAME": self.name,
            "LAST_NAME": self.last_name,
            "PERSONAL_GENDER": "",
            "PERSONAL_PHOTO": "",
            "TIME_ZONE": "",
            "TIME_ZONE_OFFSET": 0,
        }


def default_users() -> dict[int, User]:
    """Return the users every emulated portal starts with (the admin in the portal's language)."""
    return {
        1: User(1, "Ivan", "Admin", "admin@portal.example", admin=True),
        2: User(2, "Maria", "Manager", "manager@portal.example", lang="en"),
        3: User(3, "Oleg", "Restricted", "restricted@portal.example", can_delete=False),
        4: User(4, "Jonas", "Becker", "jonas.becker@portal.example", lang="de"),
    }
