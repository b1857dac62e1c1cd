"""Grouping: records linked by a shared phone or e-mail and agreeing names, split to stay safe."""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from .emails import normalize_email
from .models import Group, MatchResult, Record, SharedPair
from .names import NameKey, keys_agree, name_key, title_key
from .phones import normalize_phone

# A key held by more records than this is a switchboard or a shared inbox: only records with the
# same complete name are linked through it, and its other pairs are not listed as shared.
SWITCHBOARD_CAP = 50

_EMAIL, _PHONE, _TITLE, _TITLE_CLIENT = 1, 2, 4, 8
_KEY_NAMES = (
    ("email", _EMAIL),
    ("phone", _PHONE),
    ("title", _TITLE),
    ("title+client", _TITLE_CLIENT),
)
# Listed with shared pairs only: the same main number with other extensions (CASE-13).
PHONE_EXTENSION = "phone_extension"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def created_instant(created: str | None) -> int | None:
    """DATE_CREATE as microseconds since the epoch, or None when missing or unreadable."""
    if not created or not isinstance(created, str):
        return None
    try:
        moment = datetime.fromisoformat(created.strip())
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return (moment - _EPOCH) // _MICROSECOND
    except (ValueError, OverflowError):
        return None


def survivor_order(record: Record) -> tuple[int, int, int]:
    """Sort key: dated records first by instant, then undated ones; ties by the lower ID."""
    instant = created_instant(record.created)
    return (0, instant, record.id) if instant is not None else (1, 0, record.id)


def _matched_on(mask: int, *, extension: bool = False) -> tuple[str, ...]:
    """The sorted key names of a bit mask (and of an extension-only tie)."""
    names = [name for name, bit in _KEY_NAMES if mask & bit]
    if extension:
        names.append(PHONE_EXTENSION)
    return tuple(sorted(names))


class _Links:
    """Union-find over record indexes."""

    def __init__(self, size: int) -> None:
        self.parent = list(range(size))

    def find(self, item: int) -> int:
        """The representative of an item's component."""
        root = item
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[item] != root:
            self.parent[item], item = root, self.parent[item]
        return root

    def union(self, a: int, b: int) -> None:
        """Join the components of two items."""
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def _complete(key: NameKey) -> bool:
    """Whether a name identifies on its own: a title, or both first and last name."""
    return bool(key.title) or bool(key.first[0] and key.last[0])


def _find_pairs(
    buckets: dict[tuple[int, str], list[int]],
    names: list[NameKey],
    keys: list[frozenset[tuple[int, str]]],
) -> dict[tuple[int, int], int]:
    """Every pair of records that shares a key, with the mask of what they share."""
    pairs: dict[tuple[int, int], int] = {}

    def add(i: int, j: int) -> None:
        if (i, j) not in pairs:
            mask = 0
            for bit, _ in keys[i] & keys[j]:
                mask |= bit
            pairs[(i, j)] = mask

    for members in buckets.values():
        if len(members) < 2:
            continue
        if len(members) <= SWITCHBOARD_CAP:
            for x, i in enumerate(members):
                for j in members[x + 1 :]:
                    add(i, j)
            continue
        same_name: dict[NameKey, list[int]] = {}
        for i in members:
            if _complete(names[i]):
                same_name.setdefault(names[i], []).append(i)
        for chain in same_name.values():
            for i, j in zip(chain, chain[1:], strict=False):
                add(i, j)
    return pairs


def _main_number(phone: str) -> str:
    """A phone key without its extension."""
    return phone.split(";ext=", 1)[0]


def _extension_pairs(phones: list[frozenset[str]]) -> set[tuple[int, int]]:
    """Pairs holding one main number only with different extensions (or one without)."""
    by_main: dict[str, list[int]] = {}
    for record_phones in phones:
        for main in {_main_number(p) for p in record_phones if ";ext=" in p}:
            by_main.setdefault(main, [])
    if not by_main:
        return set()
    for index, record_phones in enumerate(phones):
        for main in {_main_number(p) for p in record_phones}:
            if main in by_main:
                by_main[main].append(index)
    found: set[tuple[int, int]] = set()
    for main, members in by_main.items():
        if not 1 < len(members) <= SWITCHBOARD_CAP:
            continue  # a switchboard's extensions are many people: nothing to list
        full = {i: {p for p in phones[i] if _main_number(p) == main} for i in members}
        for x, i in enumerate(members):
            for j in members[x + 1 :]:
                if full[i].isdisjoint(full[j]):
                    found.add((i, j))
    return found


def _all_agree(keys: Iterable[NameKey]) -> bool:
    """Whether every two of the given names agree."""
    distinct = list(dict.fromkeys(keys))
    return all(keys_agree(a, b) for x, a in enumerate(distinct) for b in distinct[x + 1 :])


def _grow_groups(
    members: list[int], adjacency: dict[int, list[int]], names: list[NameKey]
) -> list[list[int]]:
    """Greedy split of a component: each group grows along links, every two members agreeing."""
    unassigned = set(members)
    groups: list[list[int]] = []
    for seed in members:
        if seed not in unassigned:
            continue
        unassigned.discard(seed)
        group, group_names = [seed], {names[seed]}
        frontier = list(adjacency.get(seed, ()))
        heapq.heapify(frontier)
        rejected: set[int] = set()
        while frontier:
            candidate = heapq.heappop(frontier)
            if candidate not in unassigned or candidate in rejected:
                continue
            if all(keys_agree(names[candidate], other) for other in group_names):
                unassigned.discard(candidate)
                group.append(candidate)
                group_names.add(names[candidate])
                for neighbour in adjacency.get(candidate, ()):
                    if neighbour in unassigned:
                        heapq.heappush(frontier, neighbour)
            else:
                rejected.add(candidate)
        if len(group) > 1:
            groups.append(sorted(group))
    return groups


def _connected_pieces(members: list[int], adjacency: dict[int, list[int]]) -> list[list[int]]:
    """The pieces of a member set that stay connected by links among themselves."""
    inside, seen = set(members), set()
    pieces: list[list[int]] = []
    for start in members:
        if start in seen:
            continue
        seen.add(start)
        stack, piece = [start], [start]
        while stack:
            for neighbour in adjacency.get(stack.pop(), ()):
                if neighbour in inside and neighbour not in seen:
                    seen.add(neighbour)
                    stack.append(neighbour)
                    piece.append(neighbour)
        pieces.append(sorted(piece))
    return pieces


def _uncontested(
    group: list[int], adjacency: dict[int, list[int]], names: list[NameKey]
) -> list[list[int]]:
    """A split group without members that are also linked to someone the group disagrees with."""
    inside = set(group)
    group_names = set(names[i] for i in group)
    kept = [
        i
        for i in group
        if not any(
            other not in inside and not all(keys_agree(names[other], name) for name in group_names)
            for other in adjacency.get(i, ())
        )
    ]
    return [piece for piece in _connected_pieces(kept, adjacency) if len(piece) > 1]


def _safe_groups(
    members: list[int], adjacency: dict[int, list[int]], names: list[NameKey]
) -> list[list[int]]:
    """The groups a component of agreeing links may propose."""
    if _all_agree(names[i] for i in members):
        return [members]
    safe: list[list[int]] = []
    for group in _grow_groups(members, adjacency, names):
        safe.extend(_uncontested(group, adjacency, names))
    return safe


def find_duplicate_groups(
    records: Iterable[Record], *, default_region: str | None, kind: str = "person"
) -> MatchResult:
    """Group records that share a key and whose names agree; list the rest apart.

    Persons and companies share phones and e-mails; companies also a title; deals a title with
    the same client. The same main number with other extensions is only ever listed apart.
    """
    unique: dict[int, Record] = {}
    for record in records:
        unique.setdefault(record.id, record)
    ordered = sorted(unique.values(), key=survivor_order)

    ignored = 0
    phone_cache: dict[str, str | None] = {}
    email_cache: dict[str, str | None] = {}
    names: list[NameKey] = []
    phones: list[frozenset[str]] = []
    keys: list[frozenset[tuple[int, str]]] = []
    buckets: dict[tuple[int, str], list[int]] = {}
    for index, record in enumerate(ordered):
        names.append(name_key(record, kind))
        record_keys: set[tuple[int, str]] = set()
        record_phones: set[str] = set()
        for raw in record.phones:
            if raw not in phone_cache:
                phone_cache[raw] = normalize_phone(raw, default_region)
            phone = phone_cache[raw]
            if phone is None:
                ignored += 1
            else:
                record_phones.add(phone)
                record_keys.add((_PHONE, phone))
        for raw in record.emails:
            if raw not in email_cache:
                email_cache[raw] = normalize_email(raw)
            email = email_cache[raw]
            if email is None:
                ignored += 1
            else:
                record_keys.add((_EMAIL, email))
        if kind in ("company", "deal") and record.title.strip():
            title = title_key(record.title)
            if title is None:
                ignored += 1
            elif kind == "company":
                record_keys.add((_TITLE, title))
            elif record.client:
                record_keys.add((_TITLE_CLIENT, f"{title}|{record.client}"))
        phones.append(frozenset(record_phones))
        keys.append(frozenset(record_keys))
        for key in record_keys:
            buckets.setdefault(key, []).append(index)

    pairs = _find_pairs(buckets, names, keys)
    links = _Links(len(ordered))
    adjacency: dict[int, list[int]] = {}
    for i, j in pairs:
        if keys_agree(names[i], names[j]):
            links.union(i, j)
            adjacency.setdefault(i, []).append(j)
            adjacency.setdefault(j, []).append(i)

    components: dict[int, list[int]] = {}
    for index in adjacency:
        components.setdefault(links.find(index), []).append(index)

    group_of: dict[int, int] = {}
    found: list[list[int]] = []
    for members in components.values():
        for group in _safe_groups(sorted(members), adjacency, names):
            for index in group:
                group_of[index] = len(found)
            found.append(group)

    masks = [0] * len(found)
    extension_pairs = _extension_pairs(phones)
    listed: dict[tuple[int, int], int] = {}
    for (i, j), mask in pairs.items():
        number = group_of.get(i)
        if number is not None and number == group_of.get(j):
            masks[number] |= mask  # members of a group all agree, so this pair is a link
        else:
            listed[(i, j)] = mask
    for i, j in extension_pairs:
        number = group_of.get(i)
        if number is None or number != group_of.get(j):
            listed.setdefault((i, j), 0)
    shared = [
        SharedPair(
            entity_ids=tuple(sorted((ordered[i].id, ordered[j].id))),
            matched_on=_matched_on(mask, extension=(i, j) in extension_pairs),
        )
        for (i, j), mask in listed.items()
    ]

    groups = [
        Group(entity_ids=tuple(ordered[i].id for i in group), matched_on=_matched_on(masks[n]))
        for n, group in enumerate(found)
    ]
    groups.sort(key=lambda g: g.entity_ids[0])
    shared.sort(key=lambda s: s.entity_ids)
    return MatchResult(groups=tuple(groups), shared=tuple(shared), ignored_values=ignored)
