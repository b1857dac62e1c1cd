"""The error a REST method raises, rendered as Bitrix24's error envelope."""

from __future__ import annotations

from typing import Any


class RestError(Exception):
    """A REST failure: HTTP status plus {"error", "error_description"}."""

    def __init__(self, status: int, error: str | int, description: str) -> None:
        super().__init__(f"{status} {error}: {description}")
        self.status = status
        self.error = error
        self.description = description

    def body(self) -> dict[str, Any]:
        """Return the JSON body Bitrix24 sends for this error."""
        return {"error": self.error, "error_description": self.description}


def crm_error(description: str, status: int = 400) -> RestError:
    """Return a legacy CRM error, whose code is an empty string."""
    return RestError(status, "", description)


def merge_error(description: str, status: int = 400) -> RestError:
    """Return a mergeBatch error, whose code is the number 0."""
    return RestError(status, 0, description)
