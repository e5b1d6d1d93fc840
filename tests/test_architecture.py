"""The layers of docs/architecture.md hold: a module imports only from its own layer or the ones
above it (imports inside functions included; type-checking-only ones and doctest examples not)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "critmin"

#: layer of each module (package modules by their package), in the order of docs/architecture.md
LAYERS: list[tuple[str, ...]] = [
    ("errors", "names", "months", "options", "tabular", "outputs", "__init__"),
    ("schema", "validate"),
    ("dataset", "usgs", "store", "hindcast", "controls_timeline", "eu_crm", "mcs2025", "national_trade"),
    ("chain",),
    ("metrics",),
    ("scenario",),
    ("engine", "results"),
    ("sampling", "risk"),
    ("criticality",),
    ("levers", "monitor"),
    ("jobs",),
    ("report",),
    ("cli", "web"),
]
RANK = {m: i for i, layer in enumerate(LAYERS) for m in layer}


def _module(path: Path) -> str:
    rel = path.relative_to(SRC).with_suffix("")
    return rel.parts[0]


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip: set[int] = set()
    for node in ast.walk(tree):  # `if TYPE_CHECKING:` blocks do not import at run time
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for n in ast.walk(node))
    out = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("critmin"):
            parts = node.module.split(".")
            names = [parts[1]] if len(parts) > 1 else [a.name for a in node.names]
            out += [(node.lineno, n) for n in names]
        elif isinstance(node, ast.Import):
            out += [(node.lineno, a.name.split(".")[1]) for a in node.names if a.name.startswith("critmin.")]
    return out


def test_every_module_has_a_layer():
    modules = {_module(p) for p in SRC.rglob("*.py")}
    assert modules - set(RANK) == set(), "add new modules to LAYERS here and to docs/architecture.md"


def test_modules_import_only_from_their_layer_or_above():
    wrong = []
    for path in sorted(SRC.rglob("*.py")):
        mod = _module(path)
        if mod == "__init__":  # the package's front door re-exports the API
            continue
        for line, target in _imports(path):
            if target in RANK and RANK[target] > RANK[mod]:
                wrong.append(f"{path.relative_to(SRC)}:{line} ({mod}) imports {target}")
    assert wrong == []
