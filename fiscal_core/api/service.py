"""The API service of one worker: routes, authentication, tenancy, and the path from request to journal.

Rules
- Handlers run on the event loop and never block on a durable commit: they validate (pure CPU), then hand the
  request to the journal writer (which checks idempotency inside its transaction) and return an
  :class:`~fiscal_core.api.http.Later` that is answered after the group commit (written at once, not in the next
  loop iteration). Password checks (scrypt, ~60 ms) run in a thread.
- ATOL registrations are validated at the end of the loop iteration they arrived in, all of that iteration's
  back to back, and go to the journal writer as one unit: one warm pass over the validator instead of a
  cache-cold one per request between socket reads (on a 2 GHz VM with a small cache: 241 -> 160 µs of CPU per
  validation in the server, 1,250 -> 1,800 POSTs/s). Token, group, operation, media type and rate limit are
  still answered at once.
- Order of checks on a receipt: token (401: 10 missing, 11 expired/unknown) → the group belongs to the token's
  tenant (401: 20) and speaks this API version (401: 21) → operation (400: 31) → media type (415: 41) →
  validation (400: 32, every issue with its field path) → capabilities of the group (400: 32) → admission
  gate (503 + Retry-After) → idempotency (400: 33 with the original uuid and its current status) → journal →
  ``wait``. Nothing is stored before the journal; a 4xx stores nothing.
- A token reaches only its own tenant's groups and receipts: a uuid of another tenant is "not found" (30),
  never "forbidden", so existence does not leak.
- Failed sign-ins (``getToken``, the dashboard's form) are throttled per (login, address) and per address
  (:mod:`fiscal_core.api.login_guard`): a locked sign-in is answered 429 + Retry-After before any scrypt runs.
- Per-tenant rate limit: a token bucket per tenant in each worker (``rate_limit`` requests/s, burst 2 s);
  beyond it 429 + Retry-After. Bulk requests count their receipts.
- Errors on ATOL endpoints are ATOL's ``{error_id, code, text, type}`` plus ``retryable`` and, for validation,
  ``fields: [{path, code, message}]``; on the native API ``{code, text, retryable, fields}``.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import socket
import time
import uuid as uuidlib
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from fiscal_core.api import atol, views
from fiscal_core.api.callbacks import CallbackRunner
from fiscal_core.api.http import Later, Request, Response
from fiscal_core.api.intake import Accepted, Entry, Intake, IntakeFull, NewEntry
from fiscal_core.api.journal import JournalWriter
from fiscal_core.api.login_guard import LoginGuard
from fiscal_core.api.metrics import StageStats
from fiscal_core.api.ofd_link import OfdLink
from fiscal_core.api.pipeline import Pipeline
from fiscal_core.api.tokens import TokenExpired, TokenInvalid, Tokens, load_key
from fiscal_core.api.validate import RequestInvalid, Validated, validate, validate_token_request
from fiscal_core.ffd.receipt import Correction
from fiscal_core.ffd.receipt_body import capability_bits
from fiscal_core.registers.fleet import FleetSettings
from fiscal_core.registers.model import FleetFile, FleetModel, Group, capabilities_of, group_identity

__all__ = ["Service", "ServiceSettings"]

log = logging.getLogger("fiscal_core.api")

_VERSIONS = {"v4": 4, "v5": 5}
_FFD_OF_API = {4: "1.05", 5: "1.2"}


@dataclass
class ServiceSettings:
    rate_limit: float = 100_000.0  #: requests (receipts for bulk) per second per tenant and worker
    daemon_code: str = field(default_factory=lambda: f"fiscal-core@{socket.gethostname()}")
    public_url: str = "http://127.0.0.1:8080"  #: base of ``ofd_receipt_url`` (the receipt check)
    fns_site: str = "www.nalog.gov.ru"
    max_bulk: int = 10_000
    fleet: FleetSettings | None = None
    model_refresh_s: float = 5.0
    ofd: str = "embedded"  #: "embedded", "none" or HOST:PORT (see fiscal_core.api.ofd_link)
    sign_in_failures: int = 5  #: wrong passwords of one login from one address before a lockout (login_guard)
    sign_in_address_failures: int = 50  #: wrong passwords from one address, any logins, before a lockout
    sign_in_lockout_s: float = 60.0  #: the first lockout; each further one within 15 minutes doubles, up to 1 h


class _Bucket:
    __slots__ = ("at", "tokens")

    def __init__(self, tokens: float, at: float) -> None:
        self.tokens = tokens
        self.at = at


class ApiError(Exception):
    """A request refused before anything was stored."""

    def __init__(
        self,
        atol_code: int,
        text: str,
        *,
        http: int | None = None,
        symbol: str = "",
        fields: list[dict[str, Any]] | None = None,
        retryable: bool = False,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(text)
        self.atol_code = atol_code
        spec = atol.SERVICE_ERRORS.get(atol_code)
        self.http = http if http is not None else spec.http_status if spec else 400
        self.text = text
        self.symbol = symbol or (spec.name if spec else "Error")
        self.fields = fields
        self.retryable = retryable
        self.retry_after = retry_after


class Service:
    """One worker's API; see the module rules."""

    def __init__(
        self,
        data_dir: str,
        *,
        worker: int = 0,
        workers: int = 1,
        fiscal_first: int = 0,
        settings: ServiceSettings | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not 0 <= fiscal_first < workers:
            raise ValueError(f"fiscal_first must be in 0..{workers - 1}, got {fiscal_first}")
        self.data_dir = data_dir
        self.worker = worker
        self.workers = workers
        #: Workers below this index only serve the API (the tiered layout, ``serve --fiscal-workers``); the
        #: others fiscalize, each a share of the groups. 0: every worker does both.
        self.fiscal_first = fiscal_first
        self.settings = settings or ServiceSettings()
        self.clock = clock
        self.files = FleetFile(data_dir)
        self.model: FleetModel = self.files.load()
        self._model_at = clock()
        self.intake = Intake(os.path.join(data_dir, "intake"))
        self.server_key = load_key(data_dir)
        self.tokens = Tokens(self.server_key)
        self.pipeline = Pipeline(
            data_dir,
            self.intake,
            owns=self.owns_group,
            settings=self.settings.fleet,
            clock=clock,
            # A fiscal-only worker is handed nothing in memory: the API workers' commits reach it through the
            # journal scan alone, every 10 ms. Each scan's receipts go to the drives in one commit and their
            # outcomes to the intake in one more, which holds the intake's write lock (the API workers' journal
            # commits wait for it) for about a millisecond: scanning every 2 ms held it far more often, and the
            # API's p99 at 4,100 req/s was 13.1 ms instead of 8.1 (bench/RESULTS.md, session 15).
            poll_s=0.01 if fiscal_first else 0.02,
            on_finished=self._finished,
        )
        self._identity: dict[str, Any] = {}
        self._buckets: dict[str, _Bucket] = {}
        self._auth_cache: dict[tuple[str, bytes], str] = {}
        self.login_guard = LoginGuard(  #: failed sign-ins (getToken and the dashboard), see login_guard
            max_failures=self.settings.sign_in_failures,
            max_address_failures=self.settings.sign_in_address_failures,
            lockout_s=self.settings.sign_in_lockout_s,
        )
        self._gates: dict[str, tuple[int, str, str]] = {}
        self._gates_at = 0.0
        self._feed_waiters: list[asyncio.Future[None]] = []
        #: ATOL registrations of this loop iteration, validated together by _register_batch
        self._batch: list[tuple[bytes, str, Group, int, str, Later, float]] = []
        self._ro_stores: dict[int, Any] = {}
        self.dashboard: Any = None  #: fiscal_core.dashboard's state for this worker, made on first use
        self.loop: asyncio.AbstractEventLoop | None = None
        self.writer: JournalWriter | None = None
        self.ofd: OfdLink | None = None
        self.callbacks: CallbackRunner | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.stats: dict[str, int] = {"accepted": 0, "duplicates": 0, "rejected": 0, "refused": 0}
        self.stage_stats = StageStats()  #: where accepted requests' time goes (/metrics)

    # ------------------------------------------------------------------ life cycle

    def owns_group(self, code: str) -> bool:
        """Which worker fiscalizes a group: a stable hash of its code over the fiscalizing workers, so groups
        added while the service runs go to one worker without moving the others."""
        first = self.fiscal_first
        return self.worker >= first and zlib.crc32(code.encode()) % (self.workers - first) == self.worker - first

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.writer = JournalWriter(self.intake, self.loop, self.pipeline, stages=self.stage_stats)
        self.writer.start()
        self.pipeline.writer = self.writer
        if self.worker >= self.fiscal_first:
            self.pipeline.start()
        # else an API worker of the tiered layout: it owns no group now or ever, so its pipeline (an empty fleet
        # for /metrics and the dashboard) has no thread to run.
        fleet = self.pipeline.fleet
        self.ofd = OfdLink(
            self.settings.ofd,
            self.data_dir,
            self.server_key,
            lambda: [r.drive for r in list(fleet.regs.values())],
            worker=self.worker,
            hosts_emulator=self.worker == self.fiscal_first,
        )
        await asyncio.get_running_loop().run_in_executor(None, self.ofd.start)
        self.callbacks = CallbackRunner(
            self.intake,
            lambda: list(self.pipeline.fleet.groups),
            self._callback_body,
            self.server_key,
            clock=self.clock,
        )
        self._tasks.append(asyncio.ensure_future(self.callbacks.run()))
        if self.worker == 0:
            self._tasks.append(asyncio.ensure_future(self.callbacks.run_notices()))
        if self.workers > 1:
            self._tasks.append(asyncio.ensure_future(self._publish_health()))

    async def stop(self) -> None:
        """Graceful: the HTTP server has drained; journal what is queued, finish the fleet's work, close."""
        if self.callbacks is not None:
            await self.callbacks.stop()
        for t in self._tasks:
            t.cancel()
        loop = asyncio.get_running_loop()
        if self.ofd is not None:
            await loop.run_in_executor(None, self.ofd.stop)  # before the fleet closes the drives it reads
        # The pipeline finishes what the fleet holds; its outcomes go through the journal writer, which stops
        # last and commits everything queued.
        await loop.run_in_executor(None, self.pipeline.stop)
        if self.writer is not None:
            await loop.run_in_executor(None, self.writer.stop)
        for w in self._feed_waiters:
            if not w.done():
                w.set_result(None)
        for ro in self._ro_stores.values():
            ro.close()
        self.intake.close()

    def _finished(self, batch: list[Any]) -> None:
        """From the pipeline thread: outcomes were written; wake long-polls, the callback runner, the sender."""
        if self.ofd is not None:
            self.ofd.notify()
        loop = self.loop
        if loop is not None and not loop.is_closed():
            # The callback runner scans the intake (executor jobs): only for batches that owe a callback.
            callbacks = any(entry.callback_url for _, entry, _ in batch)
            loop.call_soon_threadsafe(self._wake_feed, callbacks)

    async def _publish_health(self, every_s: float = 2.0) -> None:
        """With several workers: publish this worker's register health in the intake every ``every_s`` (one small
        write), so the dashboard of any worker shows every register (issue 9)."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(every_s)
            blob = msgspec.msgpack.encode(list(self.pipeline.health))
            try:
                await loop.run_in_executor(None, self.intake.set_health, self.worker, blob)
            except Exception:
                log.exception("publishing register health failed")

    def register_health(self) -> list[dict[str, Any]]:
        """Every register's health as dicts (RegisterHealth fields): this worker's own, the others' as they last
        published them (at most a few seconds old)."""
        rows = [msgspec.to_builtins(h) for h in self.pipeline.health]
        if self.workers > 1:
            for worker, blob in sorted(self.intake.health_blobs().items()):
                if worker != self.worker and worker < self.workers:
                    rows.extend(msgspec.msgpack.decode(blob))
        return rows

    def _wake_feed(self, callbacks: bool = True) -> None:
        waiters, self._feed_waiters = self._feed_waiters, []
        for w in waiters:
            if not w.done():
                w.set_result(None)
        if callbacks and self.callbacks is not None:
            self.callbacks.wake()

    # ------------------------------------------------------------------ model, groups, gates

    def _fresh_model(self) -> FleetModel:
        now = self.clock()
        if now - self._model_at >= self.settings.model_refresh_s:
            self._model_at = now
            try:
                self.model = self.files.load()
            except Exception:  # a half-edited file: keep the last good model
                log.exception("reloading fleet.json failed")
        return self.model

    def identity(self, code: str) -> Any:
        ident = self._identity.get(code)
        if ident is None:
            ident = self._identity[code] = group_identity(self.model, code)
        return ident

    def gate(self, group: str) -> tuple[int, str, str] | None:
        """Refuse new receipts for ``group`` now? (retry_after_s, reason, code) or None.

        For a group this worker fiscalizes, the dispatcher is asked directly: ``admission`` only reads a few
        counters (a stale read costs at most a receipt or two admitted late, never a lost one), so a burst is
        refused as soon as the projected wait passes the limit. Other workers' groups use the gates their
        owners publish in the intake every 100 ms.
        """
        if self.pipeline.owns(group):
            refusal = self.pipeline.fleet.dispatcher.admission(group, self.clock())
            return None if refusal is None else (refusal.retry_after_s, refusal.reason, refusal.code)
        now = self.clock()
        if now - self._gates_at > 0.1:
            self._gates_at = now
            self._gates = self.intake.gates()
        return self._gates.get(group)

    def find_drive(self, fn_number: str) -> Any:
        """The drive ``fn_number`` (current or replaced) for reading, or None."""
        from fiscal_core.drive.drive import FiscalDrive
        from fiscal_core.drive.store import DriveStore

        for store in self.pipeline.fleet.stores.values():
            if fn_number in store.store.drive_ids():
                return FiscalDrive.open(store.store, fn_number, clock=self.clock)
        for m in self._fresh_model().registers.values():
            if self.pipeline.owns(m.group):
                continue  # its store is open in this process already (a second open of one LMDB file is unsafe)
            ro = self._ro_stores.get(m.shard)
            if ro is None:
                path = self.files.shard_path(m.shard)
                if not os.path.exists(os.path.join(path, "data.mdb")):
                    continue
                ro = self._ro_stores[m.shard] = DriveStore(path, readonly=True)
            if fn_number in ro.drive_ids():
                return FiscalDrive.open(ro, fn_number, clock=self.clock)
        return None

    # ------------------------------------------------------------------ routing

    def handle(self, req: Request) -> Response | Awaitable[Response]:
        parts = req.path.strip("/").split("/")
        try:
            if parts[0] == "possystem" and len(parts) >= 3:
                return self._atol(req, parts)
            if parts[0] == "api" and len(parts) >= 3 and parts[1] == "v1":
                return self._native(req, parts[2:])
            if parts[0] == "ui":
                from fiscal_core.dashboard import route

                return route(self, req)
            if req.path == "/metrics":
                return self._metrics()
            if req.path in ("/health", "/healthz"):
                return Response.json({"status": "ok", "worker": self.worker})
            if req.path == "/openapi.json":
                from fiscal_core.api.openapi import document

                return Response.json(document())
        except ApiError as err:
            return self._native_error(err) if parts[0] == "api" else self._atol_error(err)
        return Response.json({"error": {"code": "not_found", "text": f"no route {req.path}"}}, 404)

    # ------------------------------------------------------------------ ATOL

    def _atol(self, req: Request, parts: list[str]) -> Response | Awaitable[Response]:
        version = _VERSIONS.get(parts[1])
        if version is None:
            raise ApiError(40, f"unknown API version {parts[1]!r}: v4 or v5", http=404)
        if len(parts) == 3 and parts[2] == "getToken":
            return self._get_token(req)
        if len(parts) == 5 and parts[3] == "report":
            if req.method != "GET":
                raise ApiError(40, "the report is read with GET", http=405)
            login = self._login(req)
            group = self._group(login, parts[2], version)
            return self._atol_report(login, group, parts[4])
        if len(parts) == 4:
            if req.method != "POST":
                raise ApiError(40, "receipts are registered with POST", http=405)
            login = self._login(req)
            group = self._group(login, parts[2], version)
            return self._register(req, login, group, version, parts[3])
        raise ApiError(40, f"no route {req.path}", http=404)

    def _get_token(self, req: Request) -> Response | Awaitable[Response]:
        if req.method == "GET":
            login, password = req.query.get("login", ""), req.query.get("pass", "")
        elif req.method == "POST":
            try:
                obj = validate_token_request(req.body)
            except RequestInvalid as exc:
                raise ApiError(exc.atol_code, str(exc), fields=_issues(exc)) from None
            login, password = obj.login, obj.pass_
        else:
            raise ApiError(40, "getToken is GET or POST", http=405)
        if not login or not password:
            raise ApiError(12, "Неверный логин или пароль")
        key = (login, hashlib.sha256(password.encode()).digest())
        if self._auth_cache.get(key) == login:
            return self._token_response(login)
        self.check_sign_in(login, req.remote)
        loop = asyncio.get_running_loop()
        model = self._fresh_model()
        fut = loop.run_in_executor(None, model.authenticate, login, password)
        return self._after_auth(fut, key, login, req.remote)

    def check_sign_in(self, login: str, address: str) -> None:
        """Refuse (429 + Retry-After) a sign-in from a throttled address or (login, address), before any
        password check runs."""
        wait = self.login_guard.retry_after(login, address, self.clock())
        if wait is not None:
            raise ApiError(
                1,
                f"слишком много неудачных попыток входа: повторите через {wait} с",
                http=429,
                symbol="SignInThrottled",
                retryable=True,
                retry_after=wait,
            )

    def signed_in(self, login: str, address: str, ok: bool) -> None:
        """Record the outcome of a password check for the throttle."""
        if ok:
            self.login_guard.succeeded(login, address)
        else:
            self.login_guard.failed(login, address, self.clock())

    async def _after_auth(self, fut: Awaitable[Any], key: tuple[str, bytes], login: str, address: str) -> Response:
        tenant = await fut
        self.signed_in(login, address, tenant is not None)
        if tenant is None:
            return self._atol_error(ApiError(12, "Неверный логин или пароль"))
        self._auth_cache[key] = login
        return self._token_response(login)

    def _token_response(self, login: str) -> Response:
        now = self.clock()
        token, _ = self.tokens.issue(login, now)
        return Response.json({"error": None, "token": token, "timestamp": views.atol_time(now)})

    def _login(self, req: Request) -> str:
        token = req.headers.get("token") or req.query.get("token") or req.query.get("tokenid")
        if not token:
            auth = req.headers.get("authorization", "")
            if auth.startswith("Bearer "):
                token = auth[7:].strip()
        if not token:
            raise ApiError(10, "Не передан токен (the Token header or ?token=)")
        try:
            return self.tokens.check(token, self.clock())
        except TokenExpired:
            raise ApiError(11, "Срок действия токена истёк: получите новый (getToken)") from None
        except TokenInvalid as exc:
            raise ApiError(11, f"Токен не действителен ({exc}): получите новый (getToken)") from None

    def _group(self, login: str, code: str, version: int) -> Group:
        model = self._fresh_model()
        group = model.groups.get(code)
        if group is None or group.tenant != login:
            raise ApiError(20, f"Группа {code!r} не принадлежит этому токену")
        if version and _FFD_OF_API[version] != group.ffd:
            raise ApiError(
                21, f"Группа {code!r} работает по ФФД {group.ffd}: используйте API v{4 if group.ffd == '1.05' else 5}"
            )
        return group

    def _limit(self, login: str, n: int = 1) -> None:
        now = self.clock()
        rate = self.settings.rate_limit
        b = self._buckets.get(login)
        if b is None:
            b = self._buckets[login] = _Bucket(2 * rate, now)
        b.tokens = min(2 * rate, b.tokens + (now - b.at) * rate)
        b.at = now
        if b.tokens < n:
            raise ApiError(
                1,
                f"rate limit of {rate:g} receipts/s for this tenant exceeded",
                http=429,
                symbol="RateLimited",
                retryable=True,
                retry_after=max(1, int((n - b.tokens) / rate + 0.999)),
            )
        b.tokens -= n

    def _register(
        self, req: Request, login: str, group: Group, version: int, operation: str
    ) -> Response | Awaitable[Response]:
        op = atol.OPERATIONS.get(operation)
        if op is None or version not in op.versions:
            raise ApiError(31, f"Операция {operation!r} не поддерживается в API v{version}")
        ctype = req.headers.get("content-type", "application/json")
        if "json" not in ctype:
            raise ApiError(41, f"Content-Type {ctype!r}: application/json expected")
        self._limit(login)
        # Validation is deferred to the end of this loop iteration, where every request that arrived in it is
        # validated back to back (see _register_batch): one warm pass over the validator's code and data instead
        # of a cache-cold one per request between socket reads, and one journal hand-off for all of them.
        # A Later, not a future: the answer is written when the journal's commit is answered, not one loop iteration
        # after it (api.http's rules).
        fut = Later()
        batch = self._batch
        batch.append((req.body, login, group, version, operation, fut, req.at))
        if len(batch) == 1:
            asyncio.get_running_loop().call_soon(self._register_batch)
        return fut

    def _register_batch(self) -> None:
        """Validate the requests queued by :meth:`_register` in this loop iteration, in arrival order, and hand
        the valid ones to the journal writer as one unit; each request's future gets its own answer."""
        batch, self._batch = self._batch, []
        entries: list[Entry] = []
        docs: list[Any] = []
        waiting: list[tuple[Later, Validated]] = []
        arrived: list[float] = []
        for body, login, group, version, operation, fut, at in batch:
            try:
                v = self._admit(body, login, group, version, operation)
                entries.append(self._entry(login, group.code, operation, version, v))
            except ApiError as err:
                fut.set_result(self._atol_error(err))
                continue
            except Exception as exc:  # a bug must fail its own request (500), not the others of the batch
                fut.set_exception(exc)
                continue
            docs.append(self.pipeline.prebuild(group.code, v.document))
            waiting.append((fut, v))
            arrived.append(at)
        if not entries:
            return
        news = [NewEntry(uuid, e) for uuid, e in zip(views.new_uuids(len(entries)), entries, strict=True)]
        now = time.perf_counter()
        observe = self.stage_stats.observe
        for at in arrived:
            observe("validate", now - at)

        def answer(got: list[Accepted] | BaseException) -> None:
            for k, (fut, v) in enumerate(waiting):
                if not fut.done():
                    fut.set_result(self._accepted_atol(got if isinstance(got, BaseException) else got[k], v))

        assert self.writer is not None
        self.writer.submit(news, docs, answer)

    def _admit(self, body: bytes, login: str, group: Group, version: int, operation: str) -> Validated:
        """Validation, the group's capabilities and its admission gate, in the order the module rules give."""
        tenant = self.model.tenants[login]
        try:
            v = validate(
                body,
                version=version,
                operation=operation,
                group_inn=tenant.inn,
                group_ffd=group.ffd,
                group_sno=tenant.tax_systems,
            )
        except RequestInvalid as exc:
            self.stats["rejected"] += 1
            raise ApiError(exc.atol_code, _fields_text(exc), fields=_issues(exc)) from None
        self._check_caps(group, v.document, "receipt")
        # No idempotency lookup here: the journal writer checks (group, external_id) inside its transaction, the
        # only place the answer is race-free across workers, and an LMDB call on the loop would cost a GIL
        # hand-off per request.
        gate = self.gate(group.code)
        if gate is not None:
            self.stats["refused"] += 1
            raise ApiError(
                1, gate[1], http=503, symbol=gate[2], retryable=gate[2] != "no_capable_register", retry_after=gate[0]
            )
        return v

    def _accepted_atol(self, a: Accepted | BaseException, v: Validated) -> Response:
        """The answer to a journaled registration: ``wait`` with its uuid, or 33 for a repeat, or the error."""
        if isinstance(a, BaseException):
            return self._atol_error(_stored_error(a))
        if a.duplicate:
            return self._duplicate_atol(a)
        self.stats["accepted"] += 1
        body: dict[str, Any] = {
            "uuid": views.uuid_str(a.uuid),
            "timestamp": views.atol_time(self.clock()),
            "error": None,
            "status": "wait",
        }
        warnings = _warnings(v)
        if warnings:
            body["warnings"] = warnings
        return Response.json(body)

    def _entry(self, login: str, group: str, operation: str, api: int, v: Any) -> Entry:
        return Entry(
            tenant=login,
            group=group,
            external_id=v.external_id,
            operation=operation,
            api=api,
            timestamp=v.timestamp_text or atol.format_datetime(v.timestamp),
            callback_url=v.callback_url or "",
            payload_hash=b"",  # a repeat's payload is compared on the documents (intake.same_payload)
            correction=isinstance(v.document, Correction),
            document=v.packed or _doc_enc.encode(v.document),
            accepted_at=self.clock(),
            warnings=_warnings(v) or None,
            sums=v.sums,
        )

    def _check_caps(self, group: Group, document: Any, path: str) -> None:
        self._check_bits(group, capability_bits(document), path)

    def _check_bits(self, group: Group, bits: int, path: str) -> None:
        """A document whose ``capability_bits`` are ``bits`` refused (code 32) when ``group`` lacks one."""
        if not bits:  # the common receipt: no marked, excise or agent goods
            return
        needs = capabilities_of(bits)
        missing = needs - frozenset(group.capabilities)
        if missing:
            raise ApiError(
                32,
                f"group {group.code!r} has no registers for {', '.join(sorted(missing))} goods",
                fields=[{"path": f"{path}.items", "code": "capability_missing", "message": ", ".join(sorted(missing))}],
            )

    def _duplicate_atol(self, a: Accepted) -> Response:
        """Code 33 for a repeated (group, external_id): the original uuid, its status now, whether the payload
        differs (the journal compared it, ``intake.same_payload``)."""
        self.stats["duplicates"] += 1
        uuid = a.uuid
        rep = self.intake.report(uuid)
        status = "wait" if rep is None or rep[1] is None else rep[1].status
        original = rep[0] if rep is not None else a.original
        group = original.group if original is not None else ""
        ext = original.external_id if original is not None else ""
        body = {
            "uuid": views.uuid_str(uuid),
            "timestamp": views.atol_time(self.clock()),
            "status": status,
            "error": {
                "error_id": str(uuidlib.uuid4()),
                "code": 33,
                "text": f"В системе существует чек с external_id : {ext} и group_code: {group}",
                "type": "system",
                "retryable": False,
            },
            "duplicate": True,
            "payload_differs": not a.same_payload,
        }
        return Response.json(body, 400)

    def _atol_report(self, login: str, group: Group, text: str) -> Response:
        try:
            uuid = uuidlib.UUID(text).bytes
        except ValueError:
            raise ApiError(30, f"Некорректный uuid {text!r}") from None
        rep = self.intake.report(uuid)
        if rep is None or rep[0].tenant != login or rep[0].group != group.code:
            raise ApiError(30, f"Чек с uuid {text} не найден")
        return Response.json(self._report_body(uuid, *rep))

    def _report_body(self, uuid: bytes, entry: Entry, out: Any) -> dict[str, Any]:
        """The ATOL report of a receipt — also its callback body (ATOL: the same packet either way)."""
        body = views.atol_report(
            uuid,
            entry,
            out,
            daemon_code=self.settings.daemon_code,
            ofd_inn=self.identity(entry.group).ofd_inn,
            fns_site=self.settings.fns_site,
            check_url=self.settings.public_url.rstrip("/") + "/api/v1/check",
            now=self.clock(),
            error_id=str(uuidlib.uuid4()),
        )
        if entry.warnings:
            body["warnings"] = entry.warnings
        return body

    def _callback_body(self, uuid: bytes) -> tuple[str, str, bytes] | None:
        rep = self.intake.report(uuid)
        if rep is None or rep[1] is None:
            return None
        entry, out = rep
        body = self._report_body(uuid, entry, out)
        return entry.tenant, entry.callback_url, msgspec.json.encode(body)

    def _atol_error(self, err: ApiError) -> Response:
        error: dict[str, Any] = {
            "error_id": str(uuidlib.uuid4()),
            "code": err.atol_code,
            "text": err.text,
            "type": "system",
            "retryable": err.retryable,
        }
        if err.fields:
            error["fields"] = err.fields
        body = {"error": error, "timestamp": views.atol_time(self.clock()), "status": "fail"}
        headers = [("Retry-After", str(err.retry_after))] if err.retry_after else []
        return Response.json(body, err.http, headers)

    # ------------------------------------------------------------------ native API (see bulk.py)

    def _native(self, req: Request, parts: list[str]) -> Response | Awaitable[Response]:
        from fiscal_core.api import bulk

        return bulk.route(self, req, parts)

    def _native_error(self, err: ApiError) -> Response:
        error: dict[str, Any] = {
            "code": err.symbol,
            "atol_code": err.atol_code,
            "text": err.text,
            "retryable": err.retryable,
        }
        if err.fields:
            error["fields"] = err.fields
        headers = [("Retry-After", str(err.retry_after))] if err.retry_after else []
        return Response.json({"error": error}, err.http, headers)

    # ------------------------------------------------------------------ operations

    def _metrics(self) -> Response:
        from fiscal_core.api.metrics import render

        return Response(200, render(self).encode(), "text/plain; version=0.0.4; charset=utf-8")


_doc_enc = msgspec.msgpack.Encoder()


def _issues(exc: RequestInvalid) -> list[dict[str, Any]]:
    return [{"path": i.path, "code": i.code, "message": i.message} for i in exc.issues]


def _fields_text(exc: RequestInvalid) -> str:
    return "Ошибочные поля: " + "; ".join(f"{i.path}: {i.message}" for i in exc.issues[:10])


def _warnings(v: Validated) -> dict[str, Any] | None:
    """ATOL's ``warnings`` object (``callback_url``) plus ``fields``: every change made while normalising."""
    if not v.warnings:
        return None
    out: dict[str, Any] = {}
    fields = []
    for w in v.warnings:
        if w.code == "callback_url":
            out["callback_url"] = w.message
        else:
            fields.append({"path": w.path, "code": w.code, "message": w.message})
    if fields:
        out["fields"] = fields
    return out


def _stored_error(exc: BaseException) -> ApiError:
    if isinstance(exc, IntakeFull):
        return ApiError(1, str(exc), http=503, symbol="IntakeFull", retryable=True, retry_after=30)
    return ApiError(50, f"the journal could not store the request: {exc}", retryable=True)
