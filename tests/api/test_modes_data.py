"""Modes as data (#23): a travel mode added to data/modes.toml reaches the CLI's choices and the API's
enums with no other edit. The override runs in a fresh interpreter, since the enums are built at import."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

ETRIKE = """
[etrike]
label_zh = "电动三轮"
label_en = "e-trike"
speed_kph = 12.0
access = "bicycle"
respect_oneway = true
amap_mode = "ride"
color = "#756bb1"
"""

PROBE = """
import json, sys
from pathlib import Path
import geo.catalog as catalog
catalog.DATA_DIR = Path(sys.argv[1])        # the data folder with the extra mode, before anything loads
from typer.testing import CliRunner
from api.app import create_app
from api.cli import app as cli

spec = create_app().openapi()
ops = spec["paths"].get("/coverage", {}).values()
params = {p["name"]: p for op in ops for p in op.get("parameters", [])}
helps = {}
for args in (["region", "coverage", "--help"], ["map", "coverage", "--help"], ["network", "build", "--help"]):
    helps[" ".join(args[:2])] = CliRunner().invoke(cli, args, env={"COLUMNS": "200"}).output
print(json.dumps({
    "modes": list(catalog.travel_modes()),
    "speeds": {c: m.speed_kph for c, m in catalog.travel_modes().items()},
    "enum": spec["components"]["schemas"]["Mode"]["enum"],
    "siting_mode": next(s["properties"]["mode"] for name, s in spec["components"]["schemas"].items()
                        if name.endswith("SitingRequest")),
    "coverage_mode": params.get("mode", {}).get("schema"),
    "helps": helps,
}))
"""


def _run_with_modes(data_dir: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    res = subprocess.run([sys.executable, "-c", PROBE, str(data_dir)], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_a_mode_added_to_the_data_reaches_the_cli_and_the_openapi_enum(tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(ROOT / "data", data)
    (data / "modes.toml").write_text((data / "modes.toml").read_text(encoding="utf-8") + ETRIKE,
                                     encoding="utf-8")
    got = _run_with_modes(data)
    assert got["modes"] == ["walk", "ebike", "etrike"]
    assert got["speeds"]["etrike"] == 12.0
    assert got["enum"] == ["walk", "ebike", "etrike"]
    assert got["siting_mode"]["$ref"].endswith("/Mode")  # the siting body's mode is the same enum
    assert got["coverage_mode"] is not None and got["coverage_mode"].get("$ref", "").endswith("/Mode")
    for command, text in got["helps"].items():
        assert "etrike" in text, (command, text)


def test_without_the_override_the_enum_is_the_bundled_modes(tmp_path: Path) -> None:
    got = _run_with_modes(ROOT / "data")
    assert got["enum"] == got["modes"] == ["walk", "ebike"]
    assert not any("etrike" in text for text in got["helps"].values())
