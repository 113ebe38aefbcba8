"""``yizhan report --minutes 5,10,15`` on Shanghai's and Changsha's own networks (issue #21).

Each threshold's share in the report (JSON headline, report.md, coverage_by_area.csv) must equal a
``yizhan report --minutes T`` run of its own; without several thresholds the report is as before.
Networks are built into tmp_path and stations drawn near the nodes at test time (seeded).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from api.cli import app as cli
from geo.config import data_dir
from geo.network import read_network_npz
from geo.study import pct_text

runner = CliRunner()
CITIES: dict[str, dict[str, Any]] = {
    "shanghai": {"osm": "shanghai_le_degn/shanghai_jingan_huangpu_drive.osm", "clip": None,
                 "cuts": (5, 10, 15)},
    "changsha": {"osm": "changsha_osm_planner/changsha_yuelu_taozihu_map.osm",
                 "clip": "112.94196,28.18252,112.94899,28.18780", "cuts": (2, 4, 6)},
}


@pytest.fixture(scope="module", params=sorted(CITIES))
def city(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    spec = CITIES[request.param]
    tmp = tmp_path_factory.mktemp(f"report-cutoffs-{request.param}")
    npz = tmp / "walk.npz"
    args = ["network", "build", "--osm", str(data_dir() / spec["osm"]), "--out", str(npz), "--mode", "walk"]
    r = runner.invoke(cli, args + (["--clip", spec["clip"]] if spec["clip"] else []))
    assert r.exit_code == 0, r.output
    net = read_network_npz(npz)
    pick = np.random.default_rng(8).choice(np.flatnonzero(net.component == 0), size=5, replace=False)
    stations = tmp / "stations.csv"
    pd.DataFrame({"编号": [f"R{i}" for i in range(5)], "名称": [f"驿站{i}号" for i in range(5)],
                  "经度": net.lon[pick] + 2e-4, "纬度": net.lat[pick] - 1e-4, "状态": "open",
                  "类型": "union_station"}).to_csv(stations, index=False, encoding="utf-8-sig")
    return {"npz": npz, "stations": stations, "tmp": tmp, "cuts": spec["cuts"], "name": request.param}


def _report(city: dict[str, Any], minutes: str, out: Path) -> dict[str, Any]:
    r = runner.invoke(cli, ["report", "--network", f"walk={city['npz']}", "--stations", str(city["stations"]),
                            "--minutes", minutes, "--title", city["name"], "--out", str(out), "--json"])
    assert r.exit_code == 0, r.output
    out_json: dict[str, Any] = json.loads(r.stdout)
    return out_json


def test_report_shows_each_threshold_as_its_own_run(city: dict[str, Any]) -> None:
    cuts = city["cuts"]
    out = city["tmp"] / "many"
    head = _report(city, ",".join(str(t) for t in cuts), out)
    assert head["minutes"] == float(cuts[-1])
    rows = head["walk"]["cutoffs"]
    assert [r["minutes"] for r in rows] == [float(t) for t in cuts]
    text = (out / "report.md").read_text(encoding="utf-8")
    assert "## 不同时间阈值的覆盖率" in text
    by_area = pd.read_csv(out / "coverage_by_area.csv", encoding="utf-8-sig")
    for row, t in zip(rows, cuts, strict=True):
        alone = _report(city, str(t), city["tmp"] / f"alone-{t}")
        assert row["covered_share"] == alone["walk"]["covered_share"], t
        assert row["demand_covered"] == alone["walk"]["demand_covered"], t
        one = pd.read_csv(city["tmp"] / f"alone-{t}" / "coverage_by_area.csv", encoding="utf-8-sig")
        np.testing.assert_array_equal(by_area[f"覆盖率({t}分钟)"], one["覆盖率"])
        assert pct_text(row["covered_share"]) in text
    shares = [r["covered_share"] for r in rows]
    assert shares == sorted(shares) and shares[0] < shares[-1]
    # the default report stays as it was: no threshold section, no per-threshold columns
    single = city["tmp"] / f"alone-{cuts[-1]}"
    assert "不同时间阈值" not in (single / "report.md").read_text(encoding="utf-8")
    columns = pd.read_csv(single / "coverage_by_area.csv", encoding="utf-8-sig").columns
    assert "覆盖率" in columns and not any(c.startswith("覆盖率(") for c in columns)


@pytest.mark.parametrize("minutes", ["5,,10", "0,5", "5,abc", "5,200"])
def test_bad_thresholds(city: dict[str, Any], minutes: str, tmp_path: Path) -> None:
    r = runner.invoke(cli, ["report", "--network", f"walk={city['npz']}", "--stations", str(city["stations"]),
                            "--minutes", minutes, "--out", str(tmp_path)])
    assert r.exit_code == 2 and r.stdout == ""
    err = r.stderr.strip()
    assert err.startswith("error: --minutes") and "\n" not in err, err
