"""Headers first: the package's modules import each other without a cycle.

The graph is built from each module's top-level imports (``if
TYPE_CHECKING:`` blocks left out: they never run), resolved to the modules
of src/swaplab they name. A function-local import of a swaplab module is
allowed only where a top-level one would close a cycle, and says so on its
line (``# cycle: ...``)."""

from __future__ import annotations

import ast
from pathlib import Path

import swaplab

ROOT = Path(swaplab.__file__).parent


def _modules() -> dict[str, Path]:
    out = {}
    for p in ROOT.rglob("*.py"):
        parts = p.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = p
    return out


MODS = _modules()
#: compiled submodules (swaplab._native): importing one from its package
#: needs the package object only, not its __init__ to have run to the end
EXTENSIONS = {".".join((*p.relative_to(ROOT.parent).parts[:-1], p.name.split(".")[0]))
              for p in ROOT.rglob("*.so")}


def _targets(mod: str, node: ast.Import | ast.ImportFrom) -> list[str]:
    """The swaplab modules an import statement of ``mod`` names."""
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    else:
        if node.level:
            base = mod.split(".")
            if MODS[mod].name != "__init__.py":
                base = base[:-1]
            base = base[: len(base) - node.level + 1]
            prefix = ".".join(base + ([node.module] if node.module else []))
        else:
            prefix = node.module or ""
        subs = [f"{prefix}.{a.name}" for a in node.names]
        # ``from pkg import submodule`` depends on the submodule, not on pkg
        names = subs if all(n in MODS or n in EXTENSIONS for n in subs) else [prefix, *subs]
    return [n for n in names if n in MODS and n != mod]


def _graph() -> tuple[dict[str, set[str]], list[tuple[str, int, str, str]]]:
    edges: dict[str, set[str]] = {m: set() for m in MODS}
    local = []
    for mod, path in MODS.items():
        src = path.read_text()
        tree = ast.parse(src)
        for node in tree.body:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue
            if isinstance(node, ast.Import | ast.ImportFrom):
                edges[mod].update(_targets(mod, node))
        lines = src.splitlines()
        for fn in ast.walk(tree):
            if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                for node in ast.walk(fn):
                    if isinstance(node, ast.Import | ast.ImportFrom):
                        for t in _targets(mod, node):
                            local.append((mod, node.lineno, t, lines[node.end_lineno - 1]))
    return edges, local


def _reaches(edges: dict[str, set[str]], a: str, b: str) -> bool:
    seen, todo = {a}, [a]
    while todo:
        v = todo.pop()
        if v == b:
            return True
        for w in edges[v] - seen:
            seen.add(w)
            todo.append(w)
    return False


def test_the_graph_is_built_from_real_imports():
    edges, _ = _graph()
    assert "swaplab.mm.page_io" in edges["swaplab.drivers.zram.swap_ops"]
    assert "swaplab.drivers.zram.slots" in edges["swaplab.drivers.zram.writeback"]
    assert "swaplab.drivers.zram.zram_drv" not in edges["swaplab.drivers.zram.writeback"]


def test_no_import_cycle_among_modules():
    edges, _ = _graph()
    for a in edges:
        for b in edges[a]:
            assert not _reaches(edges, b, a), f"import cycle through {a} -> {b}"


def test_function_local_imports_only_where_a_cycle_needs_them():
    edges, local = _graph()
    assert local, "expected the known cycle-breaking imports (memcontrol, page_io)"
    for mod, line, target, text in local:
        where = f"{mod}:{line} imports {target}"
        assert _reaches(edges, target, mod), f"{where} locally, but no cycle needs it"
        assert "# cycle:" in text, f"{where} locally without a '# cycle:' reason"
