"""The OFD exchange (issue 6): the ККТ↔ОФД binary protocol, the sender, and an OFD emulator.

- :mod:`.protocol` — sans-IO framing (session header, container, CRCs, the operator confirmation): bytes in,
  values out and back, no I/O, no clock.
- :mod:`.client` — :class:`~fiscal_core.ofd.client.OfdSender`, store-and-forward from the drives' outboxes.
- :mod:`.emulator` — :class:`~fiscal_core.ofd.emulator.OfdEmulator`, a TCP OFD with fault injection;
  :mod:`.store` keeps what it received (LMDB).

This package init stays empty on purpose: the drive imports :mod:`.protocol` to verify confirmations and
must not pull in asyncio or LMDB through it.
"""
