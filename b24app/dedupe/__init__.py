"""Duplicate matching: pure functions from CRM records to proposed duplicate groups.

The rules are described in README.md beside this file.
"""

from .emails import normalize_email
from .grouping import PHONE_EXTENSION, SWITCHBOARD_CAP, find_duplicate_groups
from .models import Group, MatchResult, Record, SharedPair
from .names import latin_spelling, names_agree, title_key, title_words
from .phones import normalize_phone, region_for_language

__all__ = [
    "PHONE_EXTENSION",
    "SWITCHBOARD_CAP",
    "Group",
    "MatchResult",
    "Record",
    "SharedPair",
    "find_duplicate_groups",
    "latin_spelling",
    "names_agree",
    "normalize_email",
    "normalize_phone",
    "region_for_language",
    "title_key",
    "title_words",
]
