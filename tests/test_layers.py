"""The import direction of the layers (architecture.md "Layers"): lower never imports upper.

1. Format and math (pure: no I/O, no clock): ``ffd``, ``crypto``, ``capacity``, ``registers.dispatch*``,
   ``ofd.protocol``, ``samples``, ``errors``, ``_impl``.
2. State (owns LMDB): ``drive``, ``api.intake``. Only ``drive.store`` and ``api.intake`` import ``lmdb``.
3. Edges (sockets, event loops, threads, argv, the wall clock): everything else, e.g. ``cli``, ``api.http``.
"""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import ROOT

PACKAGE = ROOT / "fiscal_core"
LAYER1 = ("ffd", "crypto", "capacity", "registers.dispatch", "ofd.protocol", "samples", "errors", "_impl", "_native")
LAYER2 = ("drive", "api.intake", "ofd.store")
EDGE_MODULES = {"socket", "asyncio", "uvloop", "httptools", "threading", "subprocess", "selectors", "signal"}
LMDB_OWNERS = {"fiscal_core.drive.store", "fiscal_core.api.intake", "fiscal_core.ofd.store"}


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _layer(module: str) -> int:
    inner = module.removeprefix("fiscal_core.")
    if any(inner == p or inner.startswith(p + ".") or inner.startswith(p + "_") for p in LAYER1):
        return 1
    if any(inner == p or inner.startswith(p + ".") for p in LAYER2):
        return 2
    return 3


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _modules() -> list[Path]:
    return [p for p in PACKAGE.rglob("*.py") if "_native" not in p.parts]


def test_lower_layers_never_import_upper_ones() -> None:
    wrong = []
    for path in _modules():
        me = _module_name(path)
        mine = _layer(me)
        for imp in _imports(path):
            if imp.startswith("fiscal_core.") and imp != "fiscal_core" and _layer(imp) > mine:
                wrong.append(f"{me} (layer {mine}) imports {imp} (layer {_layer(imp)})")
    assert not wrong, "\n".join(sorted(wrong))


def test_pure_layer_does_no_io() -> None:
    wrong = []
    for path in _modules():
        me = _module_name(path)
        if _layer(me) != 1:
            continue
        for imp in _imports(path):
            root = imp.split(".")[0]
            if root in EDGE_MODULES or root == "lmdb":
                wrong.append(f"{me} imports {imp}")
    assert not wrong, "\n".join(sorted(wrong))


def test_only_the_stores_import_lmdb() -> None:
    owners = {_module_name(p) for p in _modules() if any(i.split(".")[0] == "lmdb" for i in _imports(p))}
    assert owners <= LMDB_OWNERS, owners - LMDB_OWNERS
    assert "fiscal_core.drive.store" in owners


def test_the_check_itself_sees_the_tree() -> None:
    names = {_module_name(p) for p in _modules()}
    assert {"fiscal_core.ffd.tlv", "fiscal_core.drive.drive", "fiscal_core.cli"} <= names
    assert (
        _layer("fiscal_core.ffd.tlv") == 1 and _layer("fiscal_core.drive.drive") == 2 and _layer("fiscal_core.cli") == 3
    )
