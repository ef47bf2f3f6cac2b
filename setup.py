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

reader = Extension(
    "fiscal_core._native._reader",
    ["native/tlv/_reader.pyx"],
    extra_compile_args=[*compile_args, "-Wno-unused-function"],
    extra_link_args=link_args,
)


def _write_if_changed(path: str, text: str) -> None:
    """Rewrite ``path`` only when its text changes, so an unchanged twin is not recompiled."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    old = None
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            old = f.read()
    if old != text:
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)


def _stamped_copy(module: str, sources: list[str]) -> str:
    """A twin (pure Python) copied for Cython as ``native/validate/<name>.py``, stamped with the SHA-256 over
    its source files; ``fiscal_core.api.validate`` uses a compiled copy only when its stamp matches the twin's
    current sources.

    ``sources`` is the ``.py`` and optionally its augmenting ``.pxd`` (C types). Cython looks for the ``.pxd``
    of module ``a.b.c`` as ``a/b/c.pxd`` on its include path, so it goes under ``native/validate/include``.
    """
    digest = hashlib.sha256()
    texts = []
    for src in sources:
        with open(src, "rb") as f:
            data = f.read()
        digest.update(data)
        texts.append(data.decode())
    py = f"native/validate/{module.rsplit('.', 1)[1]}.py"
    _write_if_changed(py, texts[0] + f'\n\nSOURCE_SHA256 = "{digest.hexdigest()}"\n')
    for text in texts[1:]:
        _write_if_changed(f"{_PXD_ROOT}/{module.replace('.', '/')}.pxd", text)
    return py


_PXD_ROOT = "native/validate/include"

# The ATOL validator's twin (the spec), compiled as is.
validate = Extension(
    "fiscal_core._native._validate",
    [_stamped_copy("fiscal_core._native._validate", ["fiscal_core/api/_validate_py.py"])],
    extra_compile_args=[*compile_args, "-Wno-unused-function", "-Wno-unused-variable"],
    extra_link_args=link_args,
)

# The validation fast path, with C types from its .pxd (which the annotations must not contradict: Cython
# reads the .py's annotations as types only where the .pxd is silent, so annotation typing is off for it).
fastpath = Extension(
    "fiscal_core._native._fastpath",
    [_stamped_copy("fiscal_core._native._fastpath", ["fiscal_core/api/_fastpath_py.py", "fiscal_core/api/_fastpath_py.pxd"])],
    extra_compile_args=[*compile_args, "-Wno-unused-function", "-Wno-unused-variable"],
    extra_link_args=link_args,
)

setup(
    ext_modules=cythonize(
        [tlv, receipt, seal, reader],
        language_level=3,
        compiler_directives={"boundscheck": False, "wraparound": False, "cdivision": True, "initializedcheck": False},
    )
    # Plain Python compiled as is: Python's semantics kept (negative indexes, bounds checks, Python division).
    + cythonize([validate], language_level=3)
    + cythonize(
        [fastpath], language_level=3, include_path=[_PXD_ROOT], compiler_directives={"annotation_typing": False}
    ),
    cffi_modules=["native/build_cffi.py:ffibuilder"],
)
