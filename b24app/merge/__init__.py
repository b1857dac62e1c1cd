"""Performing merges: the only code that changes CRM data."""

from b24app.merge.perform import (
    GroupCheck,
    MergeOutcome,
    check_group,
    checked_outcome,
    manual_merge_url,
    merge_group,
)

__all__ = [
    "GroupCheck",
    "MergeOutcome",
    "check_group",
    "checked_outcome",
    "manual_merge_url",
    "merge_group",
]
