"""One ``crm.entity.mergeBatch`` per group, its answer turned into a merge result."""

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
    """Merge one group, keeping ``ids[0]``; never retried once the call may have run."""
    ids = list(ids)
    try:
        result = client.call(
            "crm.entity.mergeBatch",
            {"params": {"entityTypeId": entity_type_id, "entityIds": ids}},
            idempotent=False,
        )
    except (AuthFailed, QueryLimitExceeded, OperationTimeLimit):
        raise
    except AccessDenied as exc:
        return MergeOutcome(
            "ERROR",
            None,
            [],
            error_code="access_denied",
            error_message=f"Bitrix24 denied the merge: {exc.description or exc.code}",
        )
    except TransientError as exc:
        return MergeOutcome(
            "ERROR",
            None,
            [],
            error_code="outcome_unknown",
            error_message=(
                "Bitrix24 did not answer in time, so the merge may or may not have happened; "
                f"check these records in Bitrix24 before merging again ({exc.code})."
            ),
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
