"""House rules that can be checked mechanically: ruff and mypy clean, and the core stays pure."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def test_ruff_is_clean() -> None:
    res = subprocess.run([str(BIN / "ruff"), "check", "geo", "api", "maps", "tests", "bench"],
                         cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def test_mypy_is_clean() -> None:
    res = subprocess.run([str(BIN / "mypy")], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def test_geo_never_imports_the_outward_layers() -> None:
    outward = {"api", "maps", "fastapi", "folium", "starlette", "uvicorn", "typer"}
    offenders = []
    for path in (ROOT / "geo").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
            offenders += [f"{path.relative_to(ROOT)}: {n}" for n in names if n.split(".")[0] in outward]
    assert not offenders, offenders


# --------------------------------------------------------------------------------- #23: one home per concept
PACKAGES = ("geo", "api", "maps")
MAX_LONG_FUNCTIONS = 5  # functions over 80 lines, in the whole of geo/, api/ and maps/
MAX_FUNCTION_LINES = 120


def _sources() -> list[tuple[Path, ast.Module]]:
    return [
        (path, ast.parse(path.read_text(encoding="utf-8")))
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if "migrations" not in path.parts
    ]


def _long_functions(over_lines: int, root: Path = ROOT) -> list[tuple[int, str]]:
    """scripts/function_lengths.py's count (its ``long_functions``, loaded from the file: one rule)."""
    import importlib.util

    script = ROOT / "scripts" / "function_lengths.py"
    spec = importlib.util.spec_from_file_location("function_lengths", script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    found: list[tuple[int, str]] = module.long_functions(over_lines=over_lines, root=root)
    return found


def test_function_length_ratchet() -> None:
    """At most five functions over 80 lines (``def`` to last line, nested bodies in), none over 120."""
    long = _long_functions(80)
    too_long = [f"{n} {where}" for n, where in long if n > MAX_FUNCTION_LINES]
    assert not too_long, f"functions over {MAX_FUNCTION_LINES} lines: {too_long}"
    assert len(long) <= MAX_LONG_FUNCTIONS, (
        f"{len(long)} functions over 80 lines (at most {MAX_LONG_FUNCTIONS}): "
        + ", ".join(f"{n} {where}" for n, where in long)
    )


def test_the_length_count_sees_nested_bodies_and_decorators(tmp_path: Path) -> None:
    """The counting rule itself: a decorated function with a nested body counts from its decorator."""
    body = "\n".join(f"        x{i} = {i}" for i in range(85))
    (tmp_path / "geo").mkdir()
    (tmp_path / "geo" / "m.py").write_text(
        f"import functools\n\n@functools.cache\ndef outer():\n    def inner():\n{body}\n    return inner\n\n"
        "def short():\n    return 1\n", encoding="utf-8")
    (tmp_path / "geo" / "migrations").mkdir()
    (tmp_path / "geo" / "migrations" / "v.py").write_text(f"def upgrade():\n{body}\n", encoding="utf-8")
    for package in ("api", "maps"):
        (tmp_path / package).mkdir()
    found = _long_functions(80, root=tmp_path)
    assert [(n, where.split(" ")[1]) for n, where in found] == [(89, "outer"), (86, "inner")]


#: private modules of the geo package (compiled search, graph kernels, contraction): the leading underscore
#: marks the module as internal to the project, not a user-facing API, so geo/, api/ and maps/ may import
#: their public names; their own ``_names`` stay private like any other module's (docs/ARCHITECTURE.md)
PRIVATE_MODULES = frozenset({"geo._dijkstra", "geo._graph", "geo._contract"})


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported_from(node: ast.ImportFrom, path: Path) -> str:
    """The absolute module of a ``from … import`` (relative imports resolved)."""
    if not node.level:
        return node.module or ""
    base = _module_name(path).split(".")
    if path.name != "__init__.py":
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def private_imports(sources: list[tuple[Path, ast.Module]]) -> list[str]:
    """Imports of another module's ``_name`` and attribute reads ``module._name`` of an imported module."""
    found = []
    for path, tree in sources:
        where = str(path.relative_to(ROOT))
        ours: dict[str, str] = {}  # local name → the project module or object it is bound to
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                module = _imported_from(node, path)
                for alias in node.names:
                    full = f"{module}.{alias.name}"
                    if _private(alias.name) and full not in PRIVATE_MODULES:
                        found.append(f"{where}:{node.lineno} imports {full}")
                    if module.split(".")[0] in PACKAGES:
                        ours[alias.asname or alias.name] = full
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    parts = alias.name.split(".")
                    if any(_private(p) for p in parts) and alias.name not in PRIVATE_MODULES:
                        found.append(f"{where}:{node.lineno} imports {alias.name}")
                    if parts[0] in PACKAGES:
                        ours[alias.asname or parts[0]] = alias.name if alias.asname else parts[0]
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and _private(node.attr):
                base = node.value
                while isinstance(base, ast.Attribute):
                    base = base.value
                if isinstance(base, ast.Name) and base.id in ours:
                    found.append(f"{where}:{node.lineno} reads {ast.unparse(node)} ({ours[base.id]})")
    return found


def test_no_module_uses_another_modules_private_names() -> None:
    assert private_imports(_sources()) == []


def test_the_private_name_check_finds_what_it_should() -> None:
    code = (
        "import geo.catalog as catalog\nfrom geo.coverage import _demand\n"
        "from geo._graph import predecessor_path\nfrom geo._graph import _helper\nfrom . import _sibling\n"
        "x = catalog._load_toml('modes.toml')\ny = predecessor_path\nz = catalog.travel_modes()\n"
        "class A:\n    def f(self):\n        return self._x\n"
    )
    path = ROOT / "api" / "routes" / "example.py"  # never written: only its name places it in the tree
    found = private_imports([(path, ast.parse(code))])
    assert found == [
        "api/routes/example.py:2 imports geo.coverage._demand",
        "api/routes/example.py:4 imports geo._graph._helper",
        "api/routes/example.py:5 imports api.routes._sibling",
        "api/routes/example.py:6 reads catalog._load_toml (geo.catalog)",
    ]


#: where mode names may be listed: the catalog (it reads data/modes.toml) and the OSM access rules, which
#: say per mode which ways it may use (adding a mode = one table in data/modes.toml + its access rule)
MODE_HOMES = frozenset({"geo/catalog.py", "geo/osm/rules.py", "geo/osm/reader.py"})


def mode_lists(sources: list[tuple[Path, ast.Module]], modes: set[str]) -> list[str]:
    """Enums, ``Literal``\\s, dicts and collections of travel mode names (a lone default is fine)."""

    def is_mode(node: ast.AST | None) -> bool:
        return isinstance(node, ast.Constant) and node.value in modes

    found = []
    for path, tree in sources:
        where = str(path.relative_to(ROOT))
        if where in MODE_HOMES:
            continue
        lines: dict[int, str] = {}  # one finding per line (a Literal's tuple is the Literal's)
        for node in ast.walk(tree):
            kind = None
            if isinstance(node, ast.Dict) and any(is_mode(k) for k in node.keys):
                kind = "dict keyed by mode names"
            elif isinstance(node, ast.Tuple | ast.List | ast.Set) and sum(map(is_mode, node.elts)) >= 2:
                kind = "a list of mode names"
            elif isinstance(node, ast.Subscript) and ast.unparse(node.value).split(".")[-1] == "Literal" \
                    and any(is_mode(n) for n in ast.walk(node.slice)):
                kind = "Literal of mode names"
            elif isinstance(node, ast.ClassDef) and any(
                isinstance(st, ast.Assign) and is_mode(st.value) for st in node.body
            ):
                kind = "enum of mode names"
            if kind is not None:
                lines.setdefault(node.lineno, kind)
        found += [f"{where}:{line} {kind}" for line, kind in sorted(lines.items())]
    return found


def _mode_names() -> set[str]:
    import tomllib

    return set(tomllib.loads((ROOT / "data" / "modes.toml").read_text(encoding="utf-8")))


def test_mode_names_are_listed_only_in_the_catalog() -> None:
    assert mode_lists(_sources(), _mode_names()) == []


def test_the_mode_list_check_finds_what_it_should() -> None:
    code = (
        "from enum import StrEnum\nfrom typing import Literal\nclass Mode(StrEnum):\n    walk = 'walk'\n"
        "M = Literal['walk', 'ebike']\nSPEED = {'walk': 4.5}\nBOTH = ('walk', 'ebike')\n"
        "def f(mode: str = 'walk') -> bool:\n    return mode == 'walk'\n"
    )
    found = mode_lists([(ROOT / "api" / "example.py", ast.parse(code))], {"walk", "ebike"})
    assert found == [
        "api/example.py:3 enum of mode names",
        "api/example.py:5 Literal of mode names",
        "api/example.py:6 dict keyed by mode names",
        "api/example.py:7 a list of mode names",
    ]
