"""PHP-style request parameter decoding, as a Bitrix24 portal (PHP) reads it."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl

_KEY_PART = re.compile(r"\[([^\]]*)\]")


class BadRequestEncoding(ValueError):
    """The request carried bytes that are not valid UTF-8 or malformed JSON."""


def _split_key(key: str) -> list[str]:
    """Split `a[b][0][]` into ['a', 'b', '0', '']."""
    head, bracket, rest = key.partition("[")
    if not bracket or not head:
        return [key]
    parts = [head]
    tail = "[" + rest
    pos = 0
    while pos < len(tail):
        match = _KEY_PART.match(tail, pos)
        if match is None:
            break
        parts.append(match.group(1))
        pos = match.end()
    return parts


def _assign(target: dict[str, Any], parts: list[str], value: Any) -> None:
    """Store value at the nested path, creating dicts; '' appends like PHP's []."""
    node = target
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        if part == "":
            part = str(sum(1 for k in node if k.isdigit()))
        if last:
            node[part] = value
            return
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child


def php_arrays(value: Any) -> Any:
    """Turn dicts keyed 0..n-1 (in order) into lists, recursively, as PHP's json_encode would."""
    if isinstance(value, dict):
        converted = {k: php_arrays(v) for k, v in value.items()}
        keys = list(converted)
        if keys and keys == [str(i) for i in range(len(keys))]:
            return [converted[k] for k in keys]
        return converted
    if isinstance(value, list):
        return [php_arrays(v) for v in value]
    return value


def parse_pairs(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Build nested params from flat (key, value) pairs with bracketed keys."""
    tree: dict[str, Any] = {}
    for key, value in pairs:
        _assign(tree, _split_key(key), value)
    result = php_arrays(tree)
    assert isinstance(result, dict)
    return result


def parse_query_string(raw: bytes | str) -> dict[str, Any]:
    """Decode a query string or urlencoded body strictly as UTF-8 into nested params."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        pairs = parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="strict")
    except UnicodeDecodeError as exc:
        raise BadRequestEncoding("Request is not valid UTF-8.") from exc
    return parse_pairs(pairs)


def parse_json_body(raw: bytes) -> dict[str, Any]:
    """Decode a JSON object body strictly as UTF-8."""
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise BadRequestEncoding("Request is not valid UTF-8.") from exc
    except json.JSONDecodeError as exc:
        raise BadRequestEncoding("Request body is not valid JSON.") from exc
    if not isinstance(data, dict):
        raise BadRequestEncoding("Request body must be a JSON object.")
    return data


def flatten_params(params: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Flatten nested params into bracketed form pairs (the inverse of parse_pairs)."""
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        name = f"{prefix}[{key}]" if prefix else str(key)
        if isinstance(value, dict):
            pairs.extend(flatten_params(value, name))
        elif isinstance(value, list):
            pairs.extend(flatten_params({str(i): v for i, v in enumerate(value)}, name))
        elif value is None:
            pairs.append((name, ""))
        elif isinstance(value, bool):
            pairs.append((name, "1" if value else "0"))
        else:
            pairs.append((name, str(value)))
    return pairs


def truthy(value: Any) -> bool:
    """Read a PHP-ish boolean flag ('1', 'Y', 'true', 1, True)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str):
        return value.strip().lower() in {"1", "y", "yes", "true", "on"}
    return False
