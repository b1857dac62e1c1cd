"""The records that matching reads and the duplicate groups it proposes."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Record:
    """One CRM record (lead, deal, contact or company) as matching sees it.

    ``client`` is a deal's client, ``company:<ID>`` or ``contact:<ID>``; empty for the others.
    """

    id: int
    created: str | None
    first_name: str = ""
    last_name: str = ""
    second_name: str = ""
    title: str = ""
    phones: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    client: str = ""


@dataclass(frozen=True)
class Group:
    """A proposed duplicate group; the first ID is the survivor."""

    entity_ids: tuple[int, ...]
    matched_on: tuple[str, ...]


@dataclass(frozen=True)
class SharedPair:
    """Two records that share a phone or e-mail but are not proposed as one group."""

    entity_ids: tuple[int, ...]
    matched_on: tuple[str, ...]


@dataclass(frozen=True)
class MatchResult:
    """Everything one matching run found."""

    groups: tuple[Group, ...]
    shared: tuple[SharedPair, ...]
    ignored_values: int
