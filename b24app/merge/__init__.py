"""Performing merges: the only code that changes CRM data."""

from b24app.merge.perform import MergeOutcome, manual_merge_url, merge_group

__all__ = ["MergeOutcome", "manual_merge_url", "merge_group"]
