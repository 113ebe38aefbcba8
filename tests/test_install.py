"""yizhan installs and runs outside the checkout: the wheel carries the checklists of ``data/``, the map
assets and the compiled search, ``yizhan demo`` runs from another directory, and the core works without
the ``api`` and ``maps`` extras.

The fresh virtual environment gets its third-party packages from the project's own venv through a
``.pth`` path (nothing downloads at test time); yizhan itself comes only from the built wheel.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

from geo.config import PROJECT_ROOT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new venv with only the yizhan wheel installed in it; returns its bin/ directory."""
    work = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(work), str(PROJECT_ROOT)], env=_env(), check=True, capture_output=True)
    wheel = next(work.glob("yizhan-*.whl"))
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    res = subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install",
                          "--no-deps", "--no-index", str(wheel)], env=_env(), capture_output=True, text=True)
    assert "Successfully installed yizhan" in res.stdout, res.stdout + res.stderr
    # after the install, or pip would find the checkout's editable yizhan there and install nothing
    site = next((venv / "lib").glob("python3*/site-packages"))
    (site / "project_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    return venv / "bin"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "YIZHAN_CACHE_DIR"}}
    env["YIZHAN_CACHE_DIR"] = str(PROJECT_ROOT / ".cache" / "networks")  # reuse the checkout's built networks
    env.update(extra)
    return env


def test_the_wheel_carries_data_assets_and_the_compiled_search(wheel_venv: Path, tmp_path: Path) -> None:
    code = textwrap.dedent("""
        import json, geo, geo._dijkstra, maps
        from pathlib import Path
        from geo.catalog import DATA_DIR, mode_speeds_kph
        from geo.config import in_checkout
        vendor = Path(maps.__file__).parent / "static" / "vendor" / "leaflet"
        print(json.dumps({"geo": geo.__file__, "data": str(DATA_DIR), "checkout": in_checkout(),
                          "modes": sorted(mode_speeds_kph()), "leaflet": vendor.is_dir()}))
    """)
    res = subprocess.run([str(wheel_venv / "python"), "-c", code], cwd=tmp_path, env=_env(),
                         capture_output=True, text=True, check=True)
    info = json.loads(res.stdout)
    assert not info["geo"].startswith(str(PROJECT_ROOT)), info
    assert info["checkout"] is False
    assert info["data"].endswith("geo/_data") and Path(info["data"], "modes.toml").is_file()
    assert {"walk", "ebike"} <= set(info["modes"])
    assert info["leaflet"] is True


def test_yizhan_demo_runs_from_another_directory(wheel_venv: Path, tmp_path: Path, data_dir: Path,
                                                 database_url: str) -> None:
    res = subprocess.run([str(wheel_venv / "yizhan"), "demo", "--out", "demo", "--json"], cwd=tmp_path,
                         env=_env(YIZHAN_DATA_DIR=str(data_dir), YIZHAN_DATABASE_URL=database_url),
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    assert (tmp_path / "demo" / "report.md").is_file()
    assert (tmp_path / "demo" / "coverage_map.html").stat().st_size > 10_000


BLOCK_EXTRAS = textwrap.dedent("""
    import sys
    class BlockExtras:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in {"fastapi", "starlette", "uvicorn", "orjson", "pydantic_settings",
                                      "folium", "branca", "matplotlib"}:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None
    sys.meta_path.insert(0, BlockExtras())
""")


def test_the_core_works_without_the_api_and_maps_extras(wheel_venv: Path, tmp_path: Path) -> None:
    code = BLOCK_EXTRAS + textwrap.dedent("""
        import geo.coverage, geo.demand, geo.gaps, geo.network, geo.siting, geo.stations
        from api.cli import main
        sys.argv = ["yizhan", *sys.argv[1:]]
        main()
    """)
    python = str(wheel_venv / "python")
    ok = subprocess.run([python, "-c", code, "coverage", "--help"], cwd=tmp_path, env=_env(),
                        capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    serve = subprocess.run([python, "-c", code, "serve"], cwd=tmp_path, env=_env(),
                           capture_output=True, text=True)
    assert serve.returncode == 1
    assert serve.stderr.strip() == "error: this command needs the 'api' extra: pip install 'yizhan[api]'"
