"""The one REST client: every call to a portal goes through here."""

from __future__ import annotations

import itertools
import json
import logging
import queue
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urljoin

import requests

from b24app.bitrix.encoding import php_query
from b24app.bitrix.errors import (
    AccessDenied,
    AuthFailed,
    BitrixError,
    MethodError,
    OperationTimeLimit,
    PortalMoved,
    QueryLimitExceeded,
    TokenExpired,
    TransientError,
)
from b24app.bitrix.pacing import NoPacer, Observation, Pacer, observation
from b24app.logs import carrying_context

log = logging.getLogger(__name__)

BATCH_LIMIT = 50
PAGE_SIZE = 50
# A batch travels as one request; a command longer than this goes out on its own instead.
MAX_BATCH_COMMAND_CHARS = 8000
USER_AGENT = "b24app-dedupe/0.1 (+https://github.com/)"
# A renamed portal answers 302; the same request is re-sent at most this often per call.
MAX_REDIRECTS = 2


class TokenSource(Protocol):
    """Gives the access token of one user and refreshes it when the portal says it expired."""

    def access_token(self) -> str:
        """The current access token."""

    def refresh(self, stale_token: str) -> str:
        """A fresh access token after ``stale_token`` was refused (single-flight)."""


class Relocator(Protocol):
    """Confirms that a redirect's target is the same portal before anything is sent there."""

    def confirm(self, location: str, token: str) -> str:
        """The portal's REST base at ``location``; raises PortalMoved when not confirmed.

        ``token`` may only go to the trusted OAuth server, never to ``location``.
        """


@dataclass
class BatchResult:
    """Per-command results and errors of one ``batch`` call, keyed as the commands were."""

    results: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, dict[str, Any]] = field(default_factory=dict)
    totals: dict[str, int] = field(default_factory=dict)
    nexts: dict[str, int] = field(default_factory=dict)
    # Commands never run: with halt, everything after the first failing one.
    skipped: list[str] = field(default_factory=list)


def _as_map(section: Any, keys: list[str]) -> dict[str, Any]:
    """Batch sections come back as ``[]`` when empty, as a list for list commands, else a map."""
    if isinstance(section, dict):
        return {str(k): v for k, v in section.items()}
    if isinstance(section, list):
        if len(section) == len(keys):
            return dict(zip(keys, section, strict=True))
        return {}
    return {}


def raise_for_error(status: int, body: Any, text: str) -> None:
    """Map an HTTP status and (possibly non-JSON) body to a typed error."""
    code = ""
    description = ""
    if isinstance(body, dict) and "error" in body:
        code = str(body.get("error") if body.get("error") not in (None, 0, "") else "")
        description = str(body.get("error_description") or "")
    if status == 401:
        if code in ("expired_token", "invalid_token"):
            raise TokenExpired(code, description, status=status)
        raise AuthFailed(code or "NO_AUTH_FOUND", description, status=status)
    if code == "QUERY_LIMIT_EXCEEDED":
        raise QueryLimitExceeded(code, description, status=status)
    if status == 429 or code == "OPERATION_TIME_LIMIT":
        raise OperationTimeLimit(code or "OPERATION_TIME_LIMIT", description, status=status)
    if status == 403 or code in ("ACCESS_DENIED", "INVALID_CREDENTIALS", "insufficient_scope"):
        raise AccessDenied(code or "ACCESS_DENIED", description, status=status)
    if status >= 500 or not isinstance(body, dict):
        raise TransientError(code or f"HTTP_{status}", description or _snippet(text), status=status)
    if "error" in body or status >= 400:
        raise MethodError(code or f"HTTP_{status}", description, status=status)


# What a page in place of a JSON answer is called: its markup is no use to whoever reads it.
HTML_ANSWER = "(an HTML page, not a Bitrix24 answer: the portal or a proxy in front of it)"


def _snippet(text: str) -> str:
    """A body that is not Bitrix24's JSON, as an error's description."""
    if text.lstrip()[:1] == "<":
        return HTML_ANSWER
    return " ".join(text.split())[:200]


class RestClient:
    """Calls REST methods of one portal as one user (``auth`` parameter, JSON POST bodies)."""

    def __init__(
        self,
        session: requests.Session,
        client_endpoint: str,
        tokens: TokenSource,
        *,
        timeout: float = 60.0,
        max_rate_retries: int = 8,
        max_blocked_retries: int = 5,
        pacer: Pacer | None = None,
        sleep: Callable[[float], None] = time.sleep,
        relocator: Relocator | None = None,
    ) -> None:
        self.session = session
        self.relocator = relocator
        self.base = client_endpoint if client_endpoint.endswith("/") else client_endpoint + "/"
        self.tokens = tokens
        self.timeout = timeout
        self.max_rate_retries = max_rate_retries
        self.max_blocked_retries = max_blocked_retries
        self.pacer: Pacer = pacer or NoPacer()
        self.sleep = sleep
        self.requests_sent = 0
        self.rate_limited = 0  # 503 QUERY_LIMIT_EXCEEDED answers
        self.time_limited = 0  # 429 OPERATION_TIME_LIMIT answers, whole or inside a batch
        self._counting = threading.Lock()  # the counters are shared by a job's threads

    def _count(self, counter: str) -> None:
        with self._counting:
            setattr(self, counter, getattr(self, counter) + 1)

    def _post(self, method: str, params: Mapping[str, Any], token: str) -> dict[str, Any]:
        body = json.dumps({**params, "auth": token}, ensure_ascii=False).encode("utf-8")
        hops = 0
        while True:
            url = f"{self.base}{method}.json"
            response = self._send(method, url, body)
            if not 300 <= response.status_code < 400:
                break
            # A renamed portal: never auto-follow (a POST may turn into a GET); re-send the
            # same request to the new host once it is confirmed to be this portal.
            if hops == MAX_REDIRECTS:
                raise PortalMoved(
                    "PORTAL_MOVED_TOO_MANY_HOPS",
                    f"{method}: still redirected after {MAX_REDIRECTS} hops",
                    status=response.status_code,
                )
            self.base = self._relocate(method, url, response, token)
            hops += 1
        text = response.content.decode("utf-8", errors="replace")
        try:
            payload: Any = json.loads(text) if text.strip() else None
        except ValueError:
            payload = None
        raise_for_error(response.status_code, payload, text)
        if not isinstance(payload, dict) or "result" not in payload:
            raise TransientError("BAD_RESPONSE", _snippet(text))
        return payload

    def _relocate(self, method: str, url: str, response: requests.Response, token: str) -> str:
        """The confirmed REST base a redirect points at (PortalMoved when unconfirmed)."""
        location = response.headers.get("Location", "").strip()
        if not location or self.relocator is None:
            raise PortalMoved(
                "PORTAL_MOVED_UNVERIFIED",
                f"{method}: the portal answered {response.status_code} and the new address "
                "cannot be confirmed",
                status=response.status_code,
            )
        base = self.relocator.confirm(urljoin(url, location), token)
        return base if base.endswith("/") else base + "/"

    def _send(self, method: str, url: str, body: bytes) -> requests.Response:
        self._count("requests_sent")
        try:
            return self.session.post(
                url,
                data=body,
                headers={
                    "Content-Type": "application/json; charset=utf-8",
                    "Accept": "application/json",
                    "User-Agent": USER_AGENT,
                },
                timeout=(10, self.timeout),
                allow_redirects=False,
            )
        except requests.Timeout as exc:
            raise TransientError("TIMEOUT", f"{method} did not answer in time") from exc
        except requests.RequestException as exc:
            raise TransientError("CONNECTION", f"{method}: {type(exc).__name__}") from exc

    def call_raw(
        self,
        method: str,
        params: Mapping[str, Any] | None = None,
        *,
        idempotent: bool = True,
        batch_methods: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """Call a method and return the whole answer (``result``, ``total``, ``next``, ``time``).

        The pacer holds the call until the portal's limits leave room, and learns from the
        answer's ``time`` block (for a batch, from each command's: ``batch_methods`` names the
        method of each command key). An expired token is refreshed and the call retried once.
        Answers that say the call never ran (503 QUERY_LIMIT_EXCEEDED, 429
        OPERATION_TIME_LIMIT) are retried after backoff or the method's reset; other transient
        faults only for idempotent calls, since their outcome is unknown.
        """
        params = dict(params or {})
        if batch_methods is None:
            charges: Mapping[str, int] = {method.lower(): 1}
        else:
            charges = Counter(m.lower() for m in batch_methods.values())
        token = self.tokens.access_token()
        refreshed = False
        attempt = 0
        blocked = 0
        while True:
            reserved = self.pacer.acquire(charges)
            seen: dict[str, Observation] = {}
            try:
                payload = self._post(method, params, token)
                seen = _observations(method, payload, batch_methods, time.time())
                return payload
            except TokenExpired as exc:
                if refreshed:
                    raise AuthFailed(
                        exc.code, "the portal refused a freshly refreshed token"
                    ) from exc
                token = self.tokens.refresh(token)
                refreshed = True
            except QueryLimitExceeded:
                self._count("rate_limited")
                self.pacer.congested()
                attempt += 1
                if attempt > self.max_rate_retries:
                    raise
                self.sleep(min(30.0, 0.5 * 2**attempt) * (0.5 + random.random() / 2))
            except OperationTimeLimit:
                self._count("time_limited")
                self.pacer.blocked(method.lower(), None)
                blocked += 1
                if blocked > self.max_blocked_retries or isinstance(self.pacer, NoPacer):
                    raise
            except TransientError:
                attempt += 1
                if not idempotent or attempt > 2:
                    raise
                self.sleep(min(10.0, 0.5 * 2**attempt) * (0.5 + random.random() / 2))
            finally:
                self.pacer.release(reserved, seen)

    def call(
        self, method: str, params: Mapping[str, Any] | None = None, *, idempotent: bool = True
    ) -> Any:
        """Call a method and return its ``result``."""
        return self.call_raw(method, params, idempotent=idempotent)["result"]

    def batch(
        self, commands: Mapping[str, tuple[str, Mapping[str, Any]]], *, halt: bool = False
    ) -> BatchResult:
        """Run up to 50 commands in one ``batch`` request, results kept per command key."""
        if len(commands) > BATCH_LIMIT:
            raise ValueError(f"a batch holds at most {BATCH_LIMIT} commands")
        keys = list(commands)
        cmd = {
            key: f"{method}?{php_query(params)}" if params else method
            for key, (method, params) in commands.items()
        }
        methods = {key: method for key, (method, _) in commands.items()}
        answer = self.call_raw(
            "batch", {"halt": 1 if halt else 0, "cmd": cmd}, batch_methods=methods
        )
        result = answer["result"]
        if not isinstance(result, dict):
            raise TransientError("BAD_RESPONSE", "batch answered without its result sections")
        out = BatchResult(
            results=_as_map(result.get("result"), keys),
            errors={
                k: v if isinstance(v, dict) else {"error": str(v)}
                for k, v in _as_map(result.get("result_error"), keys).items()
            },
        )
        out.skipped = [k for k in keys if k not in out.results and k not in out.errors]
        for key, error in out.errors.items():
            if str(error.get("error") or "") == "OPERATION_TIME_LIMIT" and key in methods:
                self._count("time_limited")
                self.pacer.blocked(methods[key].lower(), None)
        for key, value in _as_map(result.get("result_total"), keys).items():
            out.totals[key] = int(value or 0)
        for key, value in _as_map(result.get("result_next"), keys).items():
            out.nexts[key] = int(value or 0)
        return out

    def batch_all(
        self, commands: Mapping[str, tuple[str, Mapping[str, Any]]], *, halt: bool = False
    ) -> BatchResult:
        """Any number of commands, sent 50 to a ``batch``; one too long goes on its own."""
        merged = BatchResult()
        chunk: dict[str, tuple[str, Mapping[str, Any]]] = {}

        def flush() -> None:
            if chunk:
                part = self.batch(chunk, halt=halt)
                merged.results.update(part.results)
                merged.errors.update(part.errors)
                merged.totals.update(part.totals)
                merged.nexts.update(part.nexts)
                merged.skipped.extend(part.skipped)
                chunk.clear()

        for key, (method, params) in commands.items():
            if len(php_query(params)) > MAX_BATCH_COMMAND_CHARS:
                try:
                    answer = self.call_raw(method, params, idempotent=False)
                except BitrixError as exc:
                    merged.errors[key] = {"error": exc.code, "error_description": exc.description}
                else:
                    merged.results[key] = answer["result"]
                continue
            chunk[key] = (method, params)
            if len(chunk) == BATCH_LIMIT:
                flush()
        flush()
        return merged

    def iter_keyset(
        self,
        method: str,
        *,
        select: list[str],
        filter: Mapping[str, Any] | None = None,
        id_field: str = "ID",
        expected_total: int | None = None,
        pages_per_batch: int = BATCH_LIMIT,
        after: int = 0,
        upto: int | None = None,
        size_hint: int | None = None,
        stop: threading.Event | None = None,
    ) -> Iterator[list[dict[str, Any]]]:
        """Read a list by ID keyset (``>ID``, ``start=-1``), pages chained inside ``batch``.

        Each sub-command filters on the previous page's last ID through ``$result[...]``, so a
        batch can only run on while pages are full. A short page ends the read unless fewer
        records than ``expected_total`` were seen, in which case the read resumes from the
        last ID until a page comes back empty. Only IDs above the last one seen are accepted,
        so a record is never yielded twice, and a full page with nothing new is an error,
        never a loop.

        ``after`` and ``upto`` bound the read to the IDs in (after, upto]; such a range ends
        at its first short page (crm lists give a fixed 50) or at ``upto`` itself, and its
        batches are sized by the density of IDs seen so far (``size_hint`` records expected
        before any is seen), so that no batch asks for pages far past the range's end.
        ``stop``, once set, ends the read before its next request.
        """
        last_id = after
        seen = 0
        blocked = 0
        bounds: dict[str, Any] = dict(filter or {})
        if upto is not None:
            bounds[f"<={id_field}"] = upto
        while True:
            if stop is not None and stop.is_set():
                return
            pages = pages_per_batch
            if expected_total is not None:
                # Ask for no more pages than the records still expected fill.
                pages = max(1, min(pages, -(-(expected_total - seen) // PAGE_SIZE)))
            elif upto is not None:
                left = _records_left(after, upto, last_id, seen, size_hint)
                if left is not None:
                    # One spare page shows where the range ends.
                    pages = max(1, min(pages, -(-left // PAGE_SIZE) + 1))
            commands: dict[str, tuple[str, Mapping[str, Any]]] = {}
            for n in range(pages):
                cursor: Any = (
                    last_id if n == 0 else f"$result[p{n - 1}][{PAGE_SIZE - 1}][{id_field}]"
                )
                commands[f"p{n}"] = (
                    method,
                    {
                        "order": {id_field: "ASC"},
                        "filter": {**bounds, f">{id_field}": cursor},
                        "select": select,
                        "start": -1,
                    },
                )
            outcome = self.batch(commands, halt=True)
            for n in range(pages):
                key = f"p{n}"
                if key in outcome.errors:
                    error = outcome.errors[key]
                    if error.get("error") == "OPERATION_TIME_LIMIT":
                        # The method was never run: resume from last_id once the pacer,
                        # told by batch(), lets it run again.
                        blocked += 1
                        if blocked <= self.max_blocked_retries:
                            break
                    # Pages after a short one are never read, so this is a real failure.
                    raise_for_error(
                        int(error.get("status") or 400),
                        {
                            "error": str(error.get("error") or "BATCH_COMMAND_FAILED"),
                            "error_description": str(error.get("error_description") or ""),
                        },
                        "",
                    )
                rows = _rows(outcome.results.get(key))
                fresh = [row for row in rows if _int(row.get(id_field)) > last_id]
                if rows and not fresh:
                    raise MethodError("PAGING_STALLED", f"{method} returned no new records")
                if fresh:
                    last_id = max(_int(row.get(id_field)) for row in fresh)
                    seen += len(fresh)
                    yield fresh
                if upto is not None and last_id >= upto:
                    return  # the range's last ID has been read
                if len(rows) < PAGE_SIZE:
                    if not rows or expected_total is None or seen >= expected_total:
                        return
                    break  # a short page before the expected end: resume from last_id
                if expected_total is not None and seen >= expected_total:
                    # Records created during the read come after every older one (IDs only
                    # grow), so once the count read at the start is reached, nothing that
                    # existed throughout is left behind.
                    return

    def iter_keyset_ranges(
        self,
        method: str,
        *,
        select: list[str],
        upto: int,
        total: int,
        parallel: int,
        id_field: str = "ID",
    ) -> Iterator[list[dict[str, Any]]]:
        """Read IDs (0, upto] as ``parallel`` keyset ranges at once; pages come as they land.

        The ranges split the IDs evenly; each is read as ``iter_keyset`` reads one, on its own
        thread, and every request still waits for the shared pacer. An error in any range ends
        the read with that error; closing the iterator stops the others after their request
        in flight.
        """
        parallel = max(1, min(parallel, upto))
        bounds = [upto * n // parallel for n in range(parallel + 1)]
        landed: queue.Queue[list[dict[str, Any]] | BaseException | None] = queue.Queue()
        stop = threading.Event()

        def read(low: int, high: int) -> None:
            try:
                for page in self.iter_keyset(
                    method,
                    select=select,
                    id_field=id_field,
                    after=low,
                    upto=high,
                    size_hint=total * (high - low) // upto,
                    stop=stop,
                ):
                    landed.put(page)
            except BaseException as exc:  # handed to the reader, raised there
                landed.put(exc)
            finally:
                landed.put(None)

        with ThreadPoolExecutor(parallel, thread_name_prefix="b24app-range") as pool:
            for low, high in itertools.pairwise(bounds):
                pool.submit(carrying_context(read), low, high)  # its lines name the job
            running = parallel
            try:
                while running:
                    item = landed.get()
                    if item is None:
                        running -= 1
                    elif isinstance(item, BaseException):
                        raise item
                    else:
                        yield item
            finally:
                stop.set()

    def iter_pages(
        self, method: str, params: Mapping[str, Any] | None = None
    ) -> Iterator[list[Any]]:
        """Read any offset-paged list (``start`` in the body, ``next`` in the answer).

        The answer's ``next``, never the length of a page, says whether more follow, so a method
        that gives fewer rows a page than asked is read to its end (CASE-21); a ``next`` that
        does not move forward, or a page that repeats the last one, is an error instead of a
        loop (CASE-20).
        """
        start = 0
        previous: list[Any] | None = None
        while True:
            answer = self.call_raw(method, {**(params or {}), "start": start})
            page = _rows(answer.get("result"))
            if previous is not None and page and page == previous:
                raise MethodError("PAGING_STALLED", f"{method} answered the same page again")
            if page:
                yield page
            nxt = answer.get("next")
            if nxt is None or not page:
                return
            if _int(nxt) <= start:
                raise MethodError("PAGING_STALLED", f"{method} gave no next page past {start}")
            start, previous = _int(nxt), page


def _records_left(
    after: int, upto: int, last_id: int, seen: int, size_hint: int | None
) -> int | None:
    """How many records a range (after, upto] likely still holds, read up to ``last_id``."""
    if seen and last_id > after:
        return -(-(upto - last_id) * seen // (last_id - after))
    return size_hint


def _observations(
    method: str, payload: Any, batch_methods: Mapping[str, str] | None, received: float
) -> dict[str, Observation]:
    """What the answer's ``time`` blocks say per method (for a batch: its commands' blocks)."""
    if not isinstance(payload, dict):
        return {}
    if batch_methods is None:
        seen = observation(payload.get("time"), received)
        return {method.lower(): seen} if seen is not None else {}
    result = payload.get("result")
    times = _as_map(
        result.get("result_time") if isinstance(result, dict) else None, list(batch_methods)
    )
    by_method: dict[str, list[Observation]] = {}
    for key, block in times.items():
        seen = observation(block, received)
        if seen is not None and key in batch_methods:
            by_method.setdefault(batch_methods[key].lower(), []).append(seen)
    out = {}
    for name, blocks in by_method.items():
        costs = [b.processing for b in blocks if b.processing is not None]
        last = blocks[-1]  # commands run in order: the last one saw the latest sum
        out[name] = Observation(
            operating=last.operating,
            reset_at=last.reset_at,
            processing=sum(costs) / len(costs) if costs else None,
            finished=received,
        )
    return out


def _rows(page: Any) -> list[dict[str, Any]]:
    if isinstance(page, dict) and isinstance(page.get("items"), list):
        return [row for row in page["items"] if isinstance(row, dict)]
    if isinstance(page, list):
        return [row for row in page if isinstance(row, dict)]
    return []


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


__all__ = [
    "BatchResult",
    "BitrixError",
    "Relocator",
    "RestClient",
    "TokenSource",
    "raise_for_error",
]
