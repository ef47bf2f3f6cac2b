"""Build of the native core: only ``ext_modules`` (Cython) and ``cffi_modules`` live here.

Environment:
- ``FISCAL_CORE_SANITIZE=1`` builds with AddressSanitizer and UndefinedBehaviorSanitizer
  (run with ``LD_PRELOAD=$(gcc -print-file-name=libasan.so)``).
"""

import hashlib
import os
import sys

from Cython.Build import cythonize
from setuptools import Extension, setup

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "native"))

SANITIZE = os.environ.get("FISCAL_CORE_SANITIZE", "") not in ("", "0")

compile_args = ["-O3"]
link_args: list[str] = []
if SANITIZE:
    compile_args = ["-O1", "-g", "-fno-omit-frame-pointer", "-fsanitize=address,undefined"]
    compile_args.append("-fno-sanitize-recover=undefined")
    link_args = ["-fsanitize=address,undefined"]

tlv = Extension(
    "fiscal_core._native._tlv",
    ["native/tlv/_tlv.pyx"],
    extra_compile_args=[*compile_args, "-Wno-unused-function"],
    extra_link_args=link_args,
)

receipt = Extension(
    "fiscal_core._native._receipt",
    ["native/tlv/_receipt.pyx"],
    extra_compile_args=[*compile_args, "-Wno-unused-function"],
    extra_link_args=link_args,
)

seal = Extension(
    "fiscal_core._native._seal",
    ["native/tlv/_seal.pyx", "native/tlv/_seal_kernels.c"],
    include_dirs=["native/crypto/include"],
    extra_compile_args=[*compile_args, "-Wno-unused-function"],
    extra_link_args=link_args,
)


def _validate_copy() -> str:
    """The ATOL validator's twin (pure Python, the spec) copied for Cython, stamped with its source's SHA-256.

    Cython compiles the very same code; ``fiscal_core.api.validate`` uses the compiled copy only when the
    stamp matches the twin's current source (see that module).
    """
    src = "fiscal_core/api/_validate_py.py"
    dst = "native/validate/_validate.py"
    with open(src, "rb") as f:
        source = f.read()
    text = source.decode() + f'\n\nSOURCE_SHA256 = "{hashlib.sha256(source).hexdigest()}"\n'
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    old = None
    if os.path.exists(dst):
        with open(dst, encoding="utf-8") as f:
            old = f.read()
    if old != text:  # rewritten only when it changed, so an unchanged twin is not recompiled
        with open(dst, "w", encoding="utf-8") as f:
            f.write(text)
    return dst


validate = Extension(
    "fiscal_core._native._validate",
    [_validate_copy()],
    extra_compile_args=[*compile_args, "-Wno-unused-function", "-Wno-unused-variable"],
    extra_link_args=link_args,
)

setup(
    ext_modules=cythonize(
        [tlv, receipt, seal],
        language_level=3,
        compiler_directives={"boundscheck": False, "wraparound": False, "cdivision": True, "initializedcheck": False},
    )
    # Plain Python compiled as is: Python's semantics kept (negative indexes, bounds checks, Python division).
    + cythonize([validate], language_level=3),
    cffi_modules=["native/build_cffi.py:ffibuilder"],
)
