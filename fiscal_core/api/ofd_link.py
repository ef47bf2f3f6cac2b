"""The OFD link of a worker: the sender for its fleet's drives, and the in-process OFD emulator (issue 6).

Rules
- ``--ofd embedded`` (the default): worker 0 runs the OFD emulator in a thread on a free 127.0.0.1 port, with its
  store in ``DATA/ofd``, and writes the port to ``DATA/ofd/port``; every worker's sender reads it. The
  emulator's operator secret is derived from the server key, so every sender can verify confirmations.
- ``--ofd HOST:PORT``: a real OFD (or an emulator run apart, ``fiscal-core ofd-emulator``) at that address for
  every drive; its operator secret from ``FISCAL_CORE_OFD_SECRET`` (hex) when confirmations are to be verified.
  ``--ofd none``: no sender (documents stay in the drives' outboxes; the 30-day rule will block them).
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
    ) -> None:
        self.mode = mode
        self.data_dir = data_dir
        self.worker = worker
        self.emulator: Any = None
        self.sender: Any = None
        self.address: tuple[str, int] | None = None
        self._drives = drives
        self._secret = operator_secret(server_key)

    def start(self) -> None:
        if self.mode == "none":
            return
        from fiscal_core.ofd.client import Endpoint, OfdSender, operator_keys
        from fiscal_core.ofd.emulator import OfdEmulator

        secret = self._secret
        port_file = os.path.join(self.data_dir, "ofd", "port")
        if self.mode == "embedded":
            if self.worker == 0:
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
        endpoint = Endpoint(*self.address)
        self.sender = OfdSender(self._drives, lambda drive: endpoint, operator_keys(secret))
        self.sender.start_in_thread(f"ofd-sender-{self.worker}")
        log.info("OFD link: %s at %s:%d", self.mode, *self.address)

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
