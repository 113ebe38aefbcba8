"""``yizhan map coverage`` and ``yizhan map finder`` on the real Shenzhen Nanshan data."""

from __future__ import annotations

import json
import re
from pathlib import Path

import geopandas as gpd
import pytest
from typer.testing import CliRunner

from api.cli import app
from geo.config import data_dir
from tests.maps.conftest import SHENZHEN

runner = CliRunner()


@pytest.fixture
def station_file(tmp_path: Path, stations: gpd.GeoDataFrame) -> Path:
    path = tmp_path / "stations.geojson"
    stations.iloc[::3].to_file(path, driver="GeoJSON")
    return path


def test_map_finder_writes_an_offline_page(tmp_path: Path, station_file: Path) -> None:
    out = tmp_path / "finder.html"
    result = runner.invoke(app, ["map", "finder", "--stations", str(station_file), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "offline, straight-line estimates" in result.output
    html = out.read_text(encoding="utf-8")
    assert "<script src=" not in html  # inline by default: one self-contained file
    config = json.loads(re.search(r'type="application/json">(.*?)</script>', html, re.S).group(1))  # type: ignore[union-attr]
    assert config["api_base"] is None and len(config["stations"]) >= 1


def test_map_finder_with_api_and_bad_input(tmp_path: Path, station_file: Path) -> None:
    out = tmp_path / "finder.html"
    result = runner.invoke(
        app,
        ["map", "finder", "--stations", str(station_file), "--out", str(out), "--api-base", "https://y.example",
         "--lang", "en", "--assets", "local"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert '"api_base": "https://y.example"' in out.read_text(encoding="utf-8")
    bad = runner.invoke(
        app, ["map", "finder", "--stations", str(station_file), "--out", str(out), "--lang", "fr"]
    )
    assert bad.exit_code == 2 and "error: unknown lang" in bad.output


@pytest.mark.slow
def test_map_coverage_on_the_real_network(tmp_path: Path, station_file: Path) -> None:
    root = data_dir() / SHENZHEN
    out = tmp_path / "coverage.html"
    result = runner.invoke(
        app,
        ["map", "coverage", "--network", str(root / "shenzhen_nanshan_osm.osm"),
         "--stations", str(station_file), "--demand", f"pois:{root / 'shenzhen_nanshan_osm_pois.geojson'}",
         "--minutes", "5", "--tiles", "none", "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    share = re.search(r"walk: covered share ([0-9.]+)", result.output)
    assert share is not None and 0.0 < float(share.group(1)) < 1.0
    html = out.read_text(encoding="utf-8")
    assert "<script src=" not in html
    assert f'覆盖率 <b data-k="covered_share">{float(share.group(1)):.1%}' in html
    assert "yz-gap" in html and "L.markerClusterGroup" in html
