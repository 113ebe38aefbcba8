"""One home for request-time work (issue 23): routes share demand, areas and cached coverage through
``api.services`` and ``api.deps``, never through another route's names."""

from __future__ import annotations

import ast
from pathlib import Path

ROUTES = Path(__file__).resolve().parents[2] / "api" / "routes"
#: route modules another route may still import a public name from (helpers, not routes)
SHARED_HELPERS = {"api.routes._geojson"}


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [(node.module or "", [a.name for a in node.names])
            for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]


def test_no_route_imports_private_names_of_another_route() -> None:
    for path in sorted(ROUTES.glob("*.py")):
        for module, names in _imports(path):
            if module.startswith("api.routes."):
                assert not [n for n in names if n.startswith("_")], f"{path.name} imports {module}: {names}"


def test_coverage_maps_and_siting_use_services_not_other_routes() -> None:
    for name in ("coverage.py", "maps.py", "siting.py"):
        routes = {m for m, _ in _imports(ROUTES / name) if m.startswith("api.routes.")}
        assert routes <= SHARED_HELPERS, f"{name} imports the route(s) {routes - SHARED_HELPERS}"
        modules = {m for m, _ in _imports(ROUTES / name)}
        assert "api.services" in modules or "api.deps" in modules


def test_commands_import_services_without_the_web_stack() -> None:
    """The commands read demand and areas through api.services: it must not pull FastAPI in."""
    import subprocess
    import sys

    code = "import sys, api.services; print('fastapi' in sys.modules, 'sqlalchemy.orm' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=ROUTES.parents[1]).stdout.split()
    assert out == ["False", "False"]
