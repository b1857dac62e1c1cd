"""One ``crm.entity.mergeBatch`` per group, its answer turned into a merge result.

A call whose answer never came may or may not have merged the group; ``check_group`` reads the
group's records at the portal (with the same user's token) to tell which.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from b24app.bitrix.client import RestClient
from b24app.bitrix.errors import (
    AccessDenied,
    AuthFailed,
    BitrixError,
    OperationTimeLimit,
    QueryLimitExceeded,
    TransientError,
)

ENTITY_PATHS = {1: "lead", 2: "deal", 3: "contact", 4: "company"}
LIST_METHODS = {
    1: "crm.lead.list",
    2: "crm.deal.list",
    3: "crm.contact.list",
    4: "crm.company.list",
}
# crm.<type>.list answers at most this many rows a call.
LIST_PAGE = 50


@dataclass(frozen=True)
class MergeOutcome:
    """What happened to one group."""

    status: str  # SUCCESS | CONFLICT | ERROR
    kept_id: int | None
    merged_ids: list[int]
    manual_merge_url: str | None = None
    error_code: str | None = None
    error_message: str | None = None


def manual_merge_url(portal_base: str, entity_type_id: int, ids: Sequence[int]) -> str:
    """The portal's own merge page for these records, IDs in the order given."""
    path = ENTITY_PATHS[entity_type_id]
    return f"{portal_base.rstrip('/')}/crm/{path}/merge/?id={','.join(str(i) for i in ids)}"


def _ids(value: Any) -> list[int]:
    if isinstance(value, dict):
        value = list(value.values())
    out = []
    for item in value if isinstance(value, list) else []:
        try:
            out.append(int(item))
        except (TypeError, ValueError):
            continue
    return out


def merge_group(
    client: RestClient, portal_base: str, entity_type_id: int, ids: Sequence[int]
) -> MergeOutcome:
    """Merge one group, keeping ``ids[0]``.

    Raises ``TransientError`` when no answer came (the call may have run): the caller checks
    the group with ``check_group`` before anything else is sent for it.
    """
    ids = list(ids)
    try:
        result = client.call(
            "crm.entity.mergeBatch",
            {"params": {"entityTypeId": entity_type_id, "entityIds": ids}},
            idempotent=False,
        )
    except (AuthFailed, QueryLimitExceeded, OperationTimeLimit, TransientError):
        raise
    except AccessDenied as exc:
        return MergeOutcome(
            "ERROR",
            None,
            [],
            error_code="access_denied",
            error_message=f"Bitrix24 denied the merge: {exc.description or exc.code}",
        )
    except BitrixError as exc:
        return MergeOutcome(
            "ERROR",
            None,
            [],
            error_code=exc.code or "merge_failed",
            error_message=exc.description or "Bitrix24 refused the merge.",
        )
    status = str(result.get("STATUS") if isinstance(result, dict) else "").upper()
    if status == "SUCCESS":
        merged = _ids(result.get("ENTITY_IDS")) or ids[1:]
        return MergeOutcome("SUCCESS", ids[0], merged)
    if status == "CONFLICT":
        return MergeOutcome(
            "CONFLICT",
            None,
            [],
            manual_merge_url=manual_merge_url(portal_base, entity_type_id, ids),
            error_code="conflict",
            error_message="The records disagree in some fields; Bitrix24 asks a person to choose.",
        )
    return MergeOutcome(
        "ERROR",
        None,
        [],
        error_code="merge_refused",
        error_message=(
            "Bitrix24 refused the merge (for example, you may not delete one of these records)."
        ),
    )


@dataclass(frozen=True)
class GroupCheck:
    """What the portal holds of a group whose merge call may have run."""

    ids: tuple[int, ...]
    present: frozenset[int]

    @property
    def merged(self) -> bool:
        """The kept record is there and every other one is gone: the merge happened."""
        return self.ids[0] in self.present and not (set(self.ids[1:]) & self.present)

    @property
    def untouched(self) -> bool:
        """Every record is still there: nothing was merged, calling again is safe."""
        return set(self.ids) <= self.present


def check_group(client: RestClient, entity_type_id: int, ids: Sequence[int]) -> GroupCheck:
    """Read which of the group's records still exist (as the user who asked for the merge)."""
    ids = list(ids)
    present: set[int] = set()
    for start in range(0, len(ids), LIST_PAGE):
        chunk = ids[start : start + LIST_PAGE]
        rows = client.call(
            LIST_METHODS[entity_type_id],
            {"order": {"ID": "ASC"}, "filter": {"@ID": chunk}, "select": ["ID"], "start": -1},
        )
        for row in rows if isinstance(rows, list) else []:
            if isinstance(row, dict):
                present.update(i for i in _ids([row.get("ID")]) if i in chunk)
    return GroupCheck(tuple(ids), frozenset(present))


def checked_outcome(check: GroupCheck) -> MergeOutcome:
    """The outcome a check shows for a group that is not untouched."""
    if check.merged:
        return MergeOutcome("SUCCESS", check.ids[0], list(check.ids[1:]))
    missing = [i for i in check.ids if i not in check.present]
    return MergeOutcome(
        "ERROR",
        None,
        [],
        error_code="merge_unconfirmed",
        error_message=(
            "The app stopped while Bitrix24 was merging this group, and Bitrix24 now shows "
            f"only part of it (not found: {', '.join(str(i) for i in missing)}); "
            "check these records in Bitrix24 before merging them again."
        ),
    )
