"""The OFD link of a worker: the sender for its fleet's drives, and the in-process OFD emulator (issue 6).

Rules
- ``--ofd embedded`` (the default): one worker (``hosts_emulator``: worker 0, or in the tiered layout the first
  fiscal-only worker, so the API workers' cores do not carry it) runs the OFD emulator in a thread on a free
  127.0.0.1 port, with its store in ``DATA/ofd``, and writes the port to ``DATA/ofd/port``; every worker's
  sender reads it. The emulator's operator secret is derived from the server key, so every sender can verify
  confirmations.
- ``--ofd HOST:PORT``: a real OFD (or an emulator run apart, ``fiscal-core ofd-emulator``) at that address for
  every drive; its operator secret from ``FISCAL_CORE_OFD_SECRET`` (hex) when confirmations are to be verified.
  ``--ofd none``: no sender (documents stay in the drives' outboxes; the 30-day rule will block them).
- A tenant with its own OFD in ``fleet.json`` (``fiscal-core tenant set-ofd``: HOST:PORT and its operator secret)
  has its drives sent there whatever ``--ofd`` says; the others use ``--ofd``. The sender looks the endpoint up
  per drive at every scan from the model re-read when ``fleet.json`` changes, so a change applies within
  seconds. With ``--ofd none`` the sender runs only if some tenant had its own OFD at start.
- The sender serves exactly the drives of the fleet this worker runs (its owned groups), so no document is
  sent by two workers; it runs on its own event loop thread and is woken after every fiscalized batch.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import time
from collections.abc import Callable
from typing import Any

from fiscal_core.registers.model import FleetFile

__all__ = ["OfdLink"]

log = logging.getLogger("fiscal_core.ofd_link")


def operator_secret(server_key: bytes) -> bytes:
    return hmac.new(server_key, b"ofd-operator-secret", hashlib.sha256).digest()


class OfdLink:
    """Emulator (optional) and sender of one worker; see the module rules."""

    def __init__(
        self,
        mode: str,
        data_dir: str,
        server_key: bytes,
        drives: Callable[[], list[Any]],
        *,
        worker: int = 0,
        hosts_emulator: bool | None = None,
    ) -> None:
        self.mode = mode
        self.data_dir = data_dir
        self.worker = worker
        self.hosts_emulator = worker == 0 if hosts_emulator is None else hosts_emulator
        self.emulator: Any = None
        self.sender: Any = None
        self.address: tuple[str, int] | None = None
        self._drives = drives
        self._secret = operator_secret(server_key)
        self._files = FleetFile(data_dir)
        self._model_mtime = -1.0
        self._model_checked = 0.0
        self._own: dict[str, tuple[Any, Any]] = {}  #: fn_number -> (Endpoint, operator key fn) of its tenant's OFD
        self._keys: dict[str, Any] = {}  #: operator secret (hex) -> operator key fn

    def start(self) -> None:
        from fiscal_core.ofd.client import Endpoint, OfdSender, operator_keys
        from fiscal_core.ofd.emulator import OfdEmulator

        secret = self._secret
        port_file = os.path.join(self.data_dir, "ofd", "port")
        if self.mode == "none":
            pass
        elif self.mode == "embedded":
            if self.hosts_emulator:
                self.emulator = OfdEmulator(os.path.join(self.data_dir, "ofd"), secret=secret)
                self.address = self.emulator.start_in_thread("127.0.0.1", 0)
                tmp = f"{port_file}.tmp"
                with open(tmp, "w") as f:
                    f.write(str(self.address[1]))
                os.replace(tmp, port_file)
            else:
                self.address = ("127.0.0.1", self._wait_port(port_file))
        else:
            host, _, port = self.mode.rpartition(":")
            self.address = (host, int(port))
            given = os.environ.get("FISCAL_CORE_OFD_SECRET")
            secret = bytes.fromhex(given) if given else secret
        default_endpoint = Endpoint(*self.address) if self.address else None
        default_key = operator_keys(secret) if self.address else None
        self._refresh_tenants(force=True)
        if default_endpoint is None and not self._own:
            return

        def endpoint(drive: Any) -> Any:
            own = self._own.get(drive.fn_number)
            return own[0] if own is not None else default_endpoint

        def key(drive: Any) -> bytes | None:
            own = self._own.get(drive.fn_number)
            if own is not None:
                return bytes(own[1](drive))
            return None if default_key is None else default_key(drive)

        def drives() -> list[Any]:
            self._refresh_tenants()  # once per scan, on the sender's executor thread
            return self._drives()

        self.sender = OfdSender(drives, endpoint, key)
        self.sender.start_in_thread(f"ofd-sender-{self.worker}")
        where = f"{self.address[0]}:{self.address[1]}" if self.address else "no default"
        log.info("OFD link: %s at %s, %d drives on their tenants' own OFDs", self.mode, where, len(self._own))

    def _refresh_tenants(self, *, force: bool = False) -> None:
        """Re-read which drives go to their tenant's own OFD when fleet.json changed (checked once a second)."""
        from fiscal_core.ofd.client import Endpoint, operator_keys
        from fiscal_core.registers.model import parse_ofd_address

        now = time.monotonic()
        if not force and now - self._model_checked < 1.0:
            return
        self._model_checked = now
        try:
            mtime = os.stat(self._files.path).st_mtime
        except OSError:
            return
        if mtime == self._model_mtime:
            return
        try:
            model = self._files.load()
        except Exception:  # a half-written file: keep what we have, try again next time
            log.exception("reading fleet.json for the tenants' OFDs failed")
            return
        self._model_mtime = mtime
        own: dict[str, tuple[Any, Any]] = {}
        for reg in model.registers.values():
            group = model.groups.get(reg.group)
            tenant = model.tenants.get(group.tenant) if group is not None else None
            if tenant is None or not tenant.ofd:
                continue
            keys = self._keys.get(tenant.ofd_secret)
            if keys is None:
                keys = self._keys[tenant.ofd_secret] = operator_keys(bytes.fromhex(tenant.ofd_secret))
            target = (Endpoint(*parse_ofd_address(tenant.ofd)), keys)
            for fn in {reg.fn_number, *reg.drives}:
                own[fn] = target
        self._own = own  # one assignment: the sender's thread sees the old map or the new one

    @staticmethod
    def _wait_port(path: str, timeout: float = 30.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with open(path) as f:
                    return int(f.read())
            except (FileNotFoundError, ValueError):
                time.sleep(0.05)
        raise RuntimeError(f"the embedded OFD emulator did not start ({path})")

    def notify(self) -> None:
        if self.sender is not None:
            self.sender.notify()

    def stop(self) -> None:
        """The sender first (it stores the answers in flight), then the emulator."""
        if self.sender is not None:
            self.sender.stop_thread()
        if self.emulator is not None:
            self.emulator.stop_thread()

    def totals(self) -> Any:
        return None if self.sender is None else self.sender.totals()
