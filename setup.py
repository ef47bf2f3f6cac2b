"""Build of the native core: only ``ext_modules`` (Cython) and ``cffi_modules`` live here.

Environment:
- ``FISCAL_CORE_SANITIZE=1`` builds with AddressSanitizer and UndefinedBehaviorSanitizer
  (run with ``LD_PRELOAD=$(gcc -print-file-name=libasan.so)``).
"""

import os
import sys

from Cython.Build import cythonize
from setuptools import Extension, setup

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "native"))

SANITIZE = os.environ.get("FISCAL_CORE_SANITIZE", "") not in ("", "0")

compile_args = ["-O3"]
link_args: list[str] = []
if SANITIZE:
    compile_args = ["-O1", "-g", "-fno-omit-frame-pointer", "-fsanitize=address,undefined", "-fno-sanitize-recover=undefined"]
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

setup(
    ext_modules=cythonize(
        [tlv, receipt, seal],
        language_level=3,
        compiler_directives={"boundscheck": False, "wraparound": False, "cdivision": True, "initializedcheck": False},
    ),
    cffi_modules=["native/build_cffi.py:ffibuilder"],
)
