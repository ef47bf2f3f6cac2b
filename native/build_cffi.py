"""cffi build of ``fiscal_core._native._crypto`` (out-of-line API mode): the C kernels over byte buffers.

Rules
- Build inputs only: this file, ``crypto/fc_*.c`` and ``crypto/include/fc_*.h`` never ship in the package.
- The headers double as the cdef (pyca/cryptography's habit): the text between ``/* cffi-cdef-begin */``
  and ``/* cffi-cdef-end */`` in each header is the declaration cffi sees, so C and Python cannot drift.
- C11, ``-Wall -Wextra -Werror``; ``FISCAL_CORE_SANITIZE=1`` swaps ``-O3`` for an ASAN/UBSAN build
  (run it with ``LD_PRELOAD=$(gcc -print-file-name=libasan.so)``).
- Used by ``setup.py`` (``cffi_modules=["native/build_cffi.py:ffibuilder"]``, lands as
  ``fiscal_core/_native/_crypto.abi3.so`` with ``build_ext --inplace``). Also runnable alone when the Cython
  part cannot build: ``python native/build_cffi.py`` compiles into ``build/tmp-crypto/`` and prints the path of the
  module, to be copied into ``fiscal_core/_native/``.
"""

from __future__ import annotations

import os
import re

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))
CRYPTO = os.path.join(HERE, "crypto")
INCLUDE = os.path.join(CRYPTO, "include")
HEADERS = ["fc_crc.h", "fc_magma.h"]
SOURCES = ["fc_crc.c", "fc_magma.c"]

_CDEF_RE = re.compile(r"/\* cffi-cdef-begin \*/\n(.*?)/\* cffi-cdef-end \*/", re.S)


def _cdef_of(header: str) -> str:
    with open(os.path.join(INCLUDE, header), encoding="utf-8") as f:
        found = _CDEF_RE.findall(f.read())
    if len(found) != 1:
        raise RuntimeError(f"{header}: expected exactly one cffi-cdef region, found {len(found)}")
    return found[0]


def _sanitize() -> bool:
    return os.environ.get("FISCAL_CORE_SANITIZE", "").strip().lower() not in ("", "0", "false", "no")


compile_args = ["-std=c11", "-Wall", "-Wextra", "-Werror"]
link_args: list[str] = []
if _sanitize():
    compile_args += [
        "-O1",
        "-g",
        "-fno-omit-frame-pointer",
        "-fsanitize=address,undefined",
        "-fno-sanitize-recover=undefined",
    ]
    link_args += ["-fsanitize=address,undefined"]
else:
    compile_args += ["-O3"]


def make_builder(absolute: bool = False) -> FFI:
    """The builder. setuptools wants source paths relative to the project root (and runs from there);
    ``ffibuilder.compile()`` changes into its tmpdir, so running this file alone needs absolute ones."""
    root = os.path.dirname(HERE)

    def path(*parts: str) -> str:
        full = os.path.join(CRYPTO, *parts)
        return full if absolute else os.path.relpath(full, root)

    builder = FFI()
    builder.cdef("\n".join(_cdef_of(h) for h in HEADERS))
    builder.set_source(
        "fiscal_core._native._crypto",
        "\n".join(f'#include "{h}"' for h in HEADERS),
        sources=[path(s) for s in SOURCES],
        include_dirs=[path("include")],
        extra_compile_args=compile_args,
        extra_link_args=link_args,
    )
    return builder


ffibuilder = make_builder()

if __name__ == "__main__":
    print(make_builder(absolute=True).compile(tmpdir=os.path.join(HERE, os.pardir, "build", "tmp-crypto"), verbose=True))
