"""The committee PDF on two shared cities other than the Shenzhen sample: its text (read back with
pypdf) has the title, every area row and every proposal, a CJK font is embedded, the pages render with
pdftoppm, and user strings cannot inject markup."""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from pypdf import PdfReader
from shapely.geometry import box

from geo.amap import amap_url_wgs84
from geo.config import data_dir
from geo.crs import wgs84_to_gcj02
from geo.demand import demand_from_network
from geo.network import Network, load_network
from geo.siting import candidates_from_network
from geo.study import StudyResult, area_label, nonempty_areas, run_study
from maps.report_pdf import ReportMeta, write_report_pdf

CITIES = {
    "shanghai": ("shanghai_le_degn/shanghai_jingan_huangpu_drive.osm", None, "上海市黄浦区（测试）"),
    "changsha": ("changsha_osm_planner/changsha_yuelu_taozihu_map.osm",
                 (112.94196, 28.18252, 112.94899, 28.18780), "长沙市岳麓区桃子湖（测试）"),
}


def _stations(network: Network, n: int, seed: int) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(seed)
    nodes = rng.choice(np.flatnonzero(network.component == 0), size=n, replace=False)
    return gpd.GeoDataFrame({
        "station_id": [f"s{i}" for i in range(n)], "name": [f"<b>测试驿站{i}</b>" for i in range(n)],
        "kind": "union_station", "status": ["open"] * (n - 1) + ["planned"],
        "amenities": [["water"]] * n, "opening_hours": None,
    }, geometry=gpd.points_from_xy(network.lon[nodes], network.lat[nodes]), crs="EPSG:4326")


def _areas(network: Network) -> gpd.GeoDataFrame:
    lon0, lat0, lon1, lat1 = network.lon.min(), network.lat.min(), network.lon.max(), network.lat.max()
    mid = (lon0 + lon1) / 2
    return gpd.GeoDataFrame({"area_code": ["A01", "A02"], "area_name": ["西片街道", "东片街道"],
                             "level": "township"},
                            geometry=[box(lon0 - 1e-3, lat0 - 1e-3, mid, lat1 + 1e-3),
                                      box(mid, lat0 - 1e-3, lon1 + 1e-3, lat1 + 1e-3)], crs="EPSG:4326")


@pytest.fixture(scope="module", params=sorted(CITIES))
def study(request: pytest.FixtureRequest,
          tmp_path_factory: pytest.TempPathFactory) -> tuple[StudyResult, str]:
    path, clip, place = CITIES[request.param]
    cache = tmp_path_factory.mktemp("cache")
    walk = load_network(data_dir() / path, mode="walk", clip=clip, cache_dir=cache)
    demand = demand_from_network(walk, meters_per_point=80)
    candidates = candidates_from_network(walk, spacing_meters=200)
    result = run_study({"walk": walk}, _stations(walk, 3, seed=1), demand, candidates, minutes=5, add=3,
                       areas=_areas(walk))
    return result, place


def _text(reader: PdfReader) -> str:
    return "".join("".join(page.extract_text() for page in reader.pages).split())


def test_the_pdf_reads_back_with_every_area_and_proposal(study: tuple[StudyResult, str],
                                                         tmp_path: Path) -> None:
    result, place = study
    meta = ReportMeta(title=f"{place}十五分钟工会服务圈评估", place=place, date=dt.date(2026, 12, 5),
                      notes=("测试说明 <script>alert(1)</script>",))
    out = write_report_pdf(result, tmp_path / "report.pdf", meta=meta)
    reader = PdfReader(out)
    flat = _text(reader)
    assert "".join(meta.title.split()) in flat
    assert "现有站点：2个" in flat  # 3 stations given, 1 of them planned: only open ones count
    by_area = nonempty_areas(result.modes["walk"].coverage.by_area)
    assert set(by_area["area_name"]) >= {"西片街道", "东片街道"}
    for code, name in zip(by_area["area_code"], by_area["area_name"], strict=True):
        assert area_label(code, name) in flat
    selected = result.siting.selected
    assert len(selected) >= 1
    for row in selected.itertuples(index=False):
        glon, glat = wgs84_to_gcj02(float(row.lon), float(row.lat))
        assert f"{glon:.6f}" in flat and f"{glat:.6f}" in flat
    assert "©OpenStreetMapcontributors" in flat and "ODbL" in flat
    assert "第1页/共" in flat and "2026-12-05" in flat
    assert "<script>alert(1)</script>" in flat  # shown as text, never markup
    assert not list(tmp_path.glob(".*.tmp"))
    fonts = {str(f.get_object().get("/BaseFont", "")) for page in reader.pages
             for f in (page.get("/Resources", {}).get("/Font", {}) or {}).values()}
    assert any("WenQuanYi" in f or "CJK" in f for f in fonts), fonts
    links = [a.get_object()["/A"].get("/URI") for page in reader.pages for a in page.get("/Annots", []) or []
             if "/A" in a.get_object()]
    first = selected.iloc[0]
    assert amap_url_wgs84(float(first["lon"]), float(first["lat"]), str(first["name"] or "")) in links


def test_the_pages_render(study: tuple[StudyResult, str], tmp_path: Path) -> None:
    result, place = study
    out = write_report_pdf(result, tmp_path / "r.pdf", meta=ReportMeta(place=place))
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(out), str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page*.png"))
    assert len(pages) == len(PdfReader(out).pages) >= 2
