"""``yizhan site --crs gcj02``: proposals in Amap's coordinates with Amap links, on Shanghai and Changsha.

The WGS-84 run is the reference: the GCJ-02 CSV/XLSX must hold the same sites with coordinates equal
to ``geo.crs`` conversions of the WGS-84 ones, the GeoJSON stays WGS-84 (RFC 7946), and every row has
an Amap navigation link to the site's GCJ-02 point.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from api.cli import app as cli
from geo.config import data_dir
from geo.crs import wgs84_to_gcj02
from geo.network import read_network_npz

runner = CliRunner()
CITIES = {
    "shanghai": ("shanghai_le_degn/shanghai_jingan_huangpu_drive.osm", None),
    "changsha": ("changsha_osm_planner/changsha_yuelu_taozihu_map.osm",
                 "112.94196,28.18252,112.94899,28.18780"),
}


@pytest.fixture(scope="module", params=sorted(CITIES))
def city(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    osm, clip = CITIES[request.param]
    tmp = tmp_path_factory.mktemp(f"site-crs-{request.param}")
    npz = tmp / "walk.npz"
    args = ["network", "build", "--osm", str(data_dir() / osm), "--out", str(npz)]
    r = runner.invoke(cli, [*args, *(["--clip", clip] if clip else [])])
    assert r.exit_code == 0, r.output
    net = read_network_npz(npz)
    rng = np.random.default_rng(5)
    big = np.flatnonzero(net.component == np.argmax(net.component_sizes))
    demand = tmp / "demand.csv"
    near = rng.choice(big, size=150)
    pd.DataFrame({"lon": net.lon[near], "lat": net.lat[near]}).to_csv(demand, index=False)
    return {"npz": npz, "demand": demand, "tmp": tmp}


def _site(city: dict[str, Any], out: Path, *crs: str) -> None:
    r = runner.invoke(cli, ["site", "--network", str(city["npz"]), "--demand", str(city["demand"]),
                            "--candidates", "network:200", "--minutes", "3", "--add", "3",
                            "--out", str(out), *crs])
    assert r.exit_code == 0, r.output


def test_proposals_in_gcj02_with_amap_links(city: dict[str, Any]) -> None:
    _site(city, city["tmp"] / "wgs")
    _site(city, city["tmp"] / "gcj", "--crs", "gcj02")
    wgs = pd.read_csv(city["tmp"] / "wgs" / "proposals.csv", encoding="utf-8-sig")
    gcj = pd.read_csv(city["tmp"] / "gcj" / "proposals.csv", encoding="utf-8-sig")
    assert len(wgs) >= 1 and list(gcj["candidate_id"]) == list(wgs["candidate_id"])
    assert set(wgs["crs"]) == {"wgs84"} and set(gcj["crs"]) == {"gcj02"}
    glon, glat = wgs84_to_gcj02(wgs["lon"].to_numpy(), wgs["lat"].to_numpy())
    np.testing.assert_allclose(gcj["lon"], glon, atol=1e-9)
    np.testing.assert_allclose(gcj["lat"], glat, atol=1e-9)
    assert np.all(np.abs(gcj["lon"] - wgs["lon"]) > 1e-3)  # really moved (~500 m in China)
    for row in gcj.itertuples():
        query = parse_qs(urlparse(row.amap_url).query)
        lon, lat = (float(v) for v in query["to"][0].split(",")[:2])
        assert query["coordinate"] == ["gaode"]
        assert abs(lon - row.lon) < 1e-5 and abs(lat - row.lat) < 1e-5, row.amap_url
    xlsx = pd.read_excel(city["tmp"] / "gcj" / "proposals.xlsx", sheet_name="proposals")
    np.testing.assert_allclose(xlsx["lon"], gcj["lon"], atol=1e-9)
    geo = gpd.read_file(city["tmp"] / "gcj" / "proposals.geojson")
    np.testing.assert_allclose(geo.geometry.x, wgs["lon"], atol=1e-9)  # GeoJSON stays WGS-84
    assert list(geo["amap_url"]) == list(gcj["amap_url"])


def test_unknown_crs_is_one_line(city: dict[str, Any]) -> None:
    r = runner.invoke(cli, ["site", "--network", str(city["npz"]), "--demand", str(city["demand"]),
                            "--add", "1", "--crs", "utm50n"])
    assert r.exit_code == 2 and r.output.count("\n") == 1 and "--crs" in r.output, r.output


def test_default_candidates_of_a_points_file_are_street_nodes(city: dict[str, Any]) -> None:
    """A county's own demand file has no POIs: ``site`` without --candidates proposes street nodes
    every 300 m (the same sites as --candidates network:300), instead of failing on an option the
    user never typed; --candidates pois asked for explicitly still says what it needs."""
    base = ["site", "--network", str(city["npz"]), "--demand", str(city["demand"]), "--minutes", "3",
            "--add", "3", "--json"]  # fmt: skip
    default = runner.invoke(cli, base)
    explicit = runner.invoke(cli, [*base, "--candidates", "network:300"])
    assert default.exit_code == 0, default.output
    plans = [json.loads(r.output) for r in (default, explicit)]
    for key in ("selected", "covered_before", "covered_after"):
        assert plans[0][key] == plans[1][key], key
    assert plans[0]["selected"] and plans[0]["covered_after"] > plans[0]["covered_before"]
    pois = runner.invoke(cli, [*base, "--candidates", "pois"])
    assert pois.exit_code == 2
    assert "--candidates pois needs --demand pois:FILE" in pois.output
