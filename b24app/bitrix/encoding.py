"""PHP-style query encoding, as Bitrix24 decodes batch commands."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import quote


def _flatten(prefix: str, value: Any) -> Iterator[tuple[str, str]]:
    if isinstance(value, Mapping):
        if not value:
            return
        for key, item in value.items():
            yield from _flatten(f"{prefix}[{key}]" if prefix else str(key), item)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _flatten(f"{prefix}[{index}]", item)
    elif value is None:
        yield prefix, ""
    elif isinstance(value, bool):
        yield prefix, "Y" if value else "N"
    else:
        yield prefix, str(value)


def php_query(params: Mapping[str, Any]) -> str:
    """Encode nested params as ``a[b][0][c]=v`` pairs, UTF-8 percent-encoded.

    ``$result[...]`` references are left readable so that the batch engine resolves them.
    """
    parts = []
    for key, value in _flatten("", params):
        encoded_value = value if value.startswith("$result[") else quote(value, safe="")
        parts.append(f"{quote(key, safe='')}={encoded_value}")
    return "&".join(parts)
