"""The Magma block cipher (GOST R 34.12-2015) and its MAC (GOST R 34.13-2015): the primitive of the fiscal sign.

Rules
- ``MagmaKey``, ``expand_key``, ``encrypt_block``, ``decrypt_block``, ``cmac(key, msg, size=8)`` and
  ``cmac_many(key, msgs, size=8)`` (a batch of MACs under one key, the drive's group commit) come from the
  native wrapper :mod:`fiscal_core.crypto._magma_native` when ``fiscal_core._native._crypto`` is built, else from
  the pure-Python twin :mod:`fiscal_core.crypto._magma_py`, which is the spec (byte order, MAC construction,
  accepted types, errors).
- Expand a key once (``expand_key`` / ``MagmaKey``) and reuse it: the one-shot functions expand on every call.
  For many messages under one key use ``cmac_many`` / ``MagmaKey.cmac_many``: the native kernel interleaves
  independent MAC chains (~3x one chain's rate); equal-length batches (SHA-256 digests) are one C call.
- ``IMPLEMENTATION`` is ``"native"`` or ``"py"``; ``FISCAL_CORE_NO_EXTENSIONS`` / ``FISCAL_CORE_REQUIRE_EXTENSIONS``
  steer the choice (see :mod:`fiscal_core._impl`).
- HMAC-SHA256, the configurable alternative for the fiscal sign, needs no native code: ``hmac`` / ``hashlib``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fiscal_core._impl import select

__all__ = ["IMPLEMENTATION", "MagmaKey", "cmac", "cmac_many", "decrypt_block", "encrypt_block", "expand_key"]

_impl, IMPLEMENTATION = select("fiscal_core.crypto._magma_native", "fiscal_core.crypto._magma_py")

if TYPE_CHECKING:  # the twin is the type source
    from fiscal_core.crypto._magma_py import MagmaKey, cmac, cmac_many, decrypt_block, encrypt_block, expand_key
else:
    MagmaKey = _impl.MagmaKey
    expand_key = _impl.expand_key
    encrypt_block = _impl.encrypt_block
    decrypt_block = _impl.decrypt_block
    cmac = _impl.cmac
    cmac_many = _impl.cmac_many
