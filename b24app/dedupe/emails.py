"""E-mail normalisation: the key two records must share to match on e-mail."""

from __future__ import annotations

import unicodedata

# Placeholders people type when a form insists on an address.
FILLER_LOCAL_PARTS = frozenset(
    {
        "test",
        "example",
        "none",
        "null",
        "nobody",
        "nomail",
        "noemail",
        "no-email",
        "no_email",
        "noreply",
        "no-reply",
        "no_reply",
        "donotreply",
        "do-not-reply",
        "do_not_reply",
        "mailer-daemon",
    }
)
FILLER_DOMAINS = frozenset(
    {"example.com", "example.org", "example.net", "test.com", "test.ru", "domain.com"}
)
# Reserved top-level names that people type as placeholders. ".example" is not among them:
# nobody types it by hand, and test data (the emulator's seed) uses it for real-looking people.
RESERVED_TLDS = frozenset({"test", "invalid", "localhost", "local"})


def normalize_email(raw: str) -> str | None:
    """The matching key of an e-mail value, or None when it is empty, malformed or a filler."""
    value = unicodedata.normalize("NFKC", raw or "").strip().lower()
    if value.startswith("mailto:"):
        value = value[len("mailto:") :].strip()
    value = value.strip("<>").strip()
    if value.count("@") != 1 or any(ch.isspace() for ch in value):
        return None
    local, domain = value.split("@")
    if not local or "." not in domain or ".." in domain:
        return None
    if domain.startswith(".") or domain.endswith(".") or domain.startswith("-"):
        return None
    labels = domain.split(".")
    if len(labels[-1]) < 2 or labels[-1] in RESERVED_TLDS:
        return None
    if domain in FILLER_DOMAINS or any(domain.endswith("." + d) for d in FILLER_DOMAINS):
        return None
    if local in FILLER_LOCAL_PARTS:
        return None
    if len(local) == 1 and len(labels[-2]) == 1:
        return None
    return value
