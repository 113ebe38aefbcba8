"""``yizhan scenario compare … --pdf`` and ``yizhan report … --scenario A --scenario B`` on two shared
cities other than the Shenzhen sample (Shanghai, Changsha): two plans stored in the real PostGIS store,
the PDF read back with pdftotext (title, every area row, both names, every action with its GCJ-02
point and Amap link, page numbers, sources), every page rendered with pdftoppm, no character without a
glyph in the embedded fonts, and ``comparison.csv`` equal to the figures of ``compare --json``
(pandas)."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import warnings
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from fontTools.ttLib import TTFont
from pypdf import PdfReader
from shapely.geometry import box
from sqlalchemy import Engine
from typer.testing import CliRunner

from api.cli import app as cli
from geo.amap import amap_url
from geo.config import data_dir
from geo.crs import wgs84_to_gcj02
from geo.demand import demand_from_network
from geo.network import load_network, read_network_npz
from geo.scenario.compare import compare_plans
from geo.scenario.plan import Scenario, make_action
from maps.comparison_pdf import difference_map_png
from maps.static import DEMAND_CHANGE_STYLE, STATION_CHANGE_STYLE

pytestmark = pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils not installed")

runner = CliRunner()
CITIES = {
    "shanghai": ("shanghai_le_degn/shanghai_jingan_huangpu_drive.osm", None, "上海市黄浦区"),
    "changsha": ("changsha_osm_planner/changsha_yuelu_taozihu_map.osm",
                 "112.94196,28.18252,112.94899,28.18780", "长沙市岳麓区"),
}
A, B = "扩面方案", "调整方案<乙>"


def _invoke(*args: Any) -> Any:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = runner.invoke(cli, [str(a) for a in args])
    missing = [str(w.message) for w in caught if "missing from" in str(w.message)]
    assert not missing, missing  # matplotlib drew a box for a character of a static map
    return result


@pytest.fixture(scope="module", params=sorted(CITIES))
def city(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    osm, clip, place = CITIES[request.param]
    tmp = tmp_path_factory.mktemp(f"compare-{request.param}")
    npz = tmp / "walk.npz"
    clip_args = ["--clip", clip] if clip else []
    r = _invoke("network", "build", "--osm", data_dir() / osm, "--out", npz, *clip_args)
    assert r.exit_code == 0, r.output
    net = read_network_npz(npz)
    rng = np.random.default_rng(11)
    big = np.flatnonzero(net.component == 0)
    pick = rng.choice(big, size=6, replace=False)
    stations = tmp / "stations.csv"
    pd.DataFrame({"external_id": list("abcd"), "名称": [f"站{i}" for i in range(4)],
                  "经度": net.lon[pick[:4]], "纬度": net.lat[pick[:4]], "状态": "open",
                  "开放时间": "Mo-Su 08:00-18:00"}).to_csv(stations, index=False, encoding="utf-8-sig")
    lon0, lat0, lon1, lat1 = net.lon.min(), net.lat.min(), net.lon.max(), net.lat.max()
    mid = (lon0 + lon1) / 2
    areas = tmp / "areas.geojson"
    gpd.GeoDataFrame({"area_code": ["X01", "X02"], "area_name": ["西片街道", "东片街道"]},
                     geometry=[box(lon0 - 1e-3, lat0 - 1e-3, mid, lat1 + 1e-3),
                               box(mid, lat0 - 1e-3, lon1 + 1e-3, lat1 + 1e-3)],
                     crs="EPSG:4326").to_file(areas, driver="GeoJSON")
    center = np.array([net.lon[pick[:4]].mean(), net.lat[pick[:4]].mean()])
    far = big[int(np.argmax(np.hypot(net.lon[big] - center[0], net.lat[big] - center[1])))]
    points = {"far": (float(net.lon[far]), float(net.lat[far])),
              "p4": (float(net.lon[pick[4]]), float(net.lat[pick[4]])),
              "p5": (float(net.lon[pick[5]]), float(net.lat[pick[5]]))}
    return {"npz": npz, "stations": stations, "areas": areas, "points": points, "place": place,
            "base": pd.read_csv(stations, encoding="utf-8-sig")}


def _plans(city: dict[str, Any]) -> None:
    """Two plans on the same base: A adds a far station (given in GCJ-02) and closes b; B relocates c,
    extends d's hours and adds a station."""
    for name in (A, B):
        assert _invoke("scenario", "create", name, "--base", city["stations"]).exit_code == 0
    glon, glat = wgs84_to_gcj02(*city["points"]["far"])
    steps = [
        ("add", A, "--lon", glon, "--lat", glat, "--crs", "gcj02", "--name", "远端新驿站", "--cost", 80000,
         "--phase", 1, "--year", 2027),
        ("close", A, "b", "--phase", 2, "--year", 2028),
        ("relocate", B, "c", "--lon", city["points"]["p4"][0], "--lat", city["points"]["p4"][1],
         "--cost", 30000, "--year", 2027),
        ("hours", B, "d", "--hours", "Mo-Su 06:00-22:00", "--cost", 5000, "--year", 2027),
        ("add", B, "--lon", city["points"]["p5"][0], "--lat", city["points"]["p5"][1], "--name", "=1+1 驿站",
         "--cost", 50000, "--phase", 2, "--year", 2028),
    ]
    for kind, *args in steps:
        r = _invoke("scenario", kind, *args)
        assert r.exit_code == 0, r.output


def _pdftotext(path: Path) -> str:
    text = subprocess.run(["pdftotext", "-enc", "UTF-8", str(path), "-"], check=True, capture_output=True,
                          text=True).stdout
    return text


def _flat(text: str) -> str:
    return "".join(text.split())


def _norm(name: str) -> str:
    return re.sub(r"[\s-]", "", name).lower()


def _font_file(embedded: str) -> tuple[str, int]:
    """The installed font (file, index in a collection) of an embedded font name such as
    ``WenQuanYi-Micro-Hei-Bold`` (family and style joined; the longest family that begins it)."""
    listing = subprocess.run(["fc-list", "--format", "%{file}|%{index}|%{family}\n"], check=True,
                             capture_output=True, text=True).stdout
    fonts: dict[str, tuple[str, int]] = {}
    for line in sorted(listing.splitlines()):
        file, index, families = line.split("|", 2)
        for family in families.split(","):
            fonts.setdefault(_norm(family), (file, int(index or 0)))
    family = max((f for f in fonts if _norm(embedded).startswith(f)), key=len)
    return fonts[family]


def _characters_without_glyph(pdf: Path, text: str) -> set[str]:
    """Characters of the PDF's text that none of its embedded fonts has (drawn as boxes)."""
    listing = subprocess.run(["pdffonts", str(pdf)], check=True, capture_output=True, text=True).stdout
    names = [line.split()[0].split("+", 1)[-1] for line in listing.splitlines()[2:] if line.strip()]
    assert names
    cmap: set[int] = set()
    for name in names:
        file, index = _font_file(name)
        cmap |= set(TTFont(file, fontNumber=index, lazy=True).getBestCmap())
    return {c for c in set(text) if not c.isspace() and ord(c) not in cmap}


def _close(a: Any, b: Any) -> bool:
    if a is None or (isinstance(a, float) and math.isnan(a)):
        return b is None or (isinstance(b, float) and math.isnan(b))
    return b is not None and math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)


def _action_points(city: dict[str, Any], name: str) -> list[tuple[str, float, float]]:
    """Each action's station label word and GCJ-02 point, from ``scenario show`` and the base file."""
    shown = json.loads(_invoke("scenario", "show", name, "--json").stdout)
    base = city["base"].set_index("external_id")
    out = []
    for a in shown["actions"]:
        if a["lon"] is not None and not (isinstance(a["lon"], float) and math.isnan(a["lon"])):
            lon, lat = a["lon"], a["lat"]
        else:
            lon, lat = base.loc[a["station_id"], "经度"], base.loc[a["station_id"], "纬度"]
        word = a["name"] if isinstance(a["name"], str) else base.loc[a["station_id"], "名称"]
        out.append((word, *wgs84_to_gcj02(float(lon), float(lat))))
    return out


def test_compare_pdf_reads_back(city: dict[str, Any], clean_store: Engine, tmp_path: Path) -> None:
    _plans(city)
    out = tmp_path / "cmp"
    r = _invoke("scenario", "compare", A, B, "--network", city["npz"], "--areas", city["areas"],
                "--minutes", 5, "--out", out, "--pdf", "--json", "--title", city["place"])
    assert r.exit_code == 0, r.output
    figures = json.loads(r.stdout)
    pdf = out / "comparison.pdf"
    text = _pdftotext(pdf)
    flat = _flat(text)
    assert _flat(f"{city['place']}工会驿站方案比较：{A} 与 {B}") in flat
    assert A in flat and _flat(B) in flat  # "<乙>" shown as text, not markup
    area_names = [row["area_name"] for row in figures["by_area"]]
    assert set(area_names) == {"西片街道", "东片街道"}
    shown = pd.read_csv(out / "comparison.csv", encoding="utf-8-sig")  # Chinese headers and levels
    for stem in ("comparison", "compare_by_area", "compare_by_group"):
        head = pd.read_csv(out / f"{stem}.csv", encoding="utf-8-sig", nrows=0).columns
        assert not [h for h in head if re.search("[A-Za-z]", h.replace("GCJ-02", ""))], (stem, list(head))
    groups = pd.read_csv(out / "compare_by_group.csv", encoding="utf-8-sig")["劳动者群体"]
    assert len(groups) and not any(re.search("[A-Za-z]", g) for g in groups), list(groups)
    table = _english(shown)
    for row in table[table["level"] != "total"].itertuples(index=False):  # every area and group row
        shares = [f"{100 * v:.1f}%" for v in (row.covered_share_a, row.covered_share_b)]
        assert re.search(re.escape(_flat(row.name)) + r"[\d.]+" + re.escape(shares[0]) + re.escape(shares[1]),
                         flat), row
    actions = _action_points(city, A) + _action_points(city, B)
    assert len(actions) == 5
    for word, glon, glat in actions:
        assert _flat(word) in flat and f"{glon:.6f}{glat:.6f}" in flat, word
    reader = PdfReader(pdf)
    links = [a.get_object()["/A"].get("/URI") for page in reader.pages for a in page.get("/Annots", []) or []
             if "/A" in a.get_object()]
    assert sum("uri.amap.com" in str(u) for u in links) == len(actions)
    assert amap_url(actions[0][1], actions[0][2], actions[0][0]) in links
    pages = len(reader.pages)
    assert f"第1页/共{pages}页" in flat and f"第{pages}页/共{pages}页" in flat
    last = _flat(_pdftotext_page(pdf, pages))
    assert "©OpenStreetMapcontributors" in last and "ODbL" in last
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(pdf), str(tmp_path / "page")], check=True)
    assert len(sorted(tmp_path.glob("page*.png"))) == pages >= 2
    assert _characters_without_glyph(pdf, text) == set()
    assert not list(out.glob(".*.tmp*"))
    _csv_equals_json(table, figures)
    _xlsx_holds_the_tables(out / "comparison.xlsx", shown)
    r = _invoke("scenario", "compare", A, B, "--network", city["npz"], "--pdf")
    assert r.exit_code == 2 and r.output.strip() == "error: --pdf needs --out DIR (the PDF is written to " \
        "DIR/comparison.pdf)"


def test_compare_pdf_without_title_names_the_areas(city: dict[str, Any], clean_store: Engine,
                                                   tmp_path: Path) -> None:
    """``范围`` is the areas' name when --areas is given without --title (not 未指定)."""
    _plans(city)
    out = tmp_path / "cmp"
    r = _invoke("scenario", "compare", A, B, "--network", city["npz"], "--areas", city["areas"],
                "--minutes", 5, "--out", out, "--pdf")
    assert r.exit_code == 0, r.output
    flat = _flat(_pdftotext(out / "comparison.pdf"))
    assert "范围：西片街道、东片街道" in flat and "未指定" not in flat
    r = _invoke("scenario", "compare", A, B, "--network", city["npz"], "--minutes", 5, "--out",
                tmp_path / "bare", "--pdf")
    assert r.exit_code == 0, r.output
    assert "范围：（未指定）" in _flat(_pdftotext(tmp_path / "bare" / "comparison.pdf"))


def _xlsx_holds_the_tables(path: Path, table: pd.DataFrame) -> None:
    """The workbook: the total, areas and groups as in the CSV, and each plan's actions with the
    formula-like station name kept as text (a string cell, never a formula)."""
    sheets = pd.read_excel(path, sheet_name=None)
    assert list(sheets) == ["总体", "分区域", "分群体", f"动作-{A}", f"动作-{B}"]
    areas = sheets["分区域"]
    pd.testing.assert_frame_equal(areas.reset_index(drop=True),
                                  table[table["层级"] == "区域"].reset_index(drop=True), check_dtype=False)
    assert list(sheets[f"动作-{A}"].columns)[:3] == ["序号", "动作", "站点"]
    assert len(sheets[f"动作-{A}"]) == 2 and len(sheets[f"动作-{B}"]) == 3
    from openpyxl import load_workbook

    cells = [c for row in load_workbook(path)[f"动作-{B}"].iter_rows() for c in row if c.value == "=1+1 驿站"]
    assert len(cells) == 1 and cells[0].data_type == "s"


def _english(shown: pd.DataFrame) -> pd.DataFrame:
    """comparison.csv (Chinese headers and levels, as a report's tables) with the column names and
    level codes of :func:`geo.scenario.compare.comparison_table`."""
    from geo.report import COMPARISON_HEADERS_ZH, VALUES_ZH, header_zh
    from geo.scenario.compare import TABLE_COLUMNS

    back = {COMPARISON_HEADERS_ZH.get(c) or header_zh(c): c for c in TABLE_COLUMNS}
    table = shown.rename(columns=back)
    assert list(table.columns) == list(TABLE_COLUMNS)
    return table.assign(level=table["level"].map({v: k for k, v in VALUES_ZH["level"].items()}))


def _pdftotext_page(pdf: Path, page: int) -> str:
    return subprocess.run(["pdftotext", "-f", str(page), "-l", str(page), "-enc", "UTF-8", str(pdf), "-"],
                          check=True, capture_output=True, text=True).stdout


def _csv_equals_json(table: pd.DataFrame, figures: dict[str, Any]) -> None:
    """comparison.csv holds the figures of ``--json``: the total, every area and every group."""
    columns = ["demand", "covered_share_a", "covered_share_b", "p95_minutes_a", "p95_minutes_b", "gained",
               "lost", "net_gain"]
    total = table[table["level"] == "total"]
    assert len(total) == 1
    expected = {("area", str(r["area_code"])): r for r in figures["by_area"]}
    expected |= {("group", str(r["group"])): r for r in figures["by_group"]}
    expected[("total", "all")] = figures
    got = {(str(r["level"]), str(r["code"])): r for r in table.to_dict("records")}
    assert set(got) == set(expected)
    for key, row in expected.items():
        for col in columns:
            assert _close(row[col], got[key][col]), (key, col, row[col], got[key][col])
    assert table.loc[table["level"] == "area", "demand"].sum() == pytest.approx(figures["demand"])
    assert table.loc[table["level"] == "group", "gained"].sum() == pytest.approx(figures["gained"])


def test_report_has_the_comparison(city: dict[str, Any], clean_store: Engine, tmp_path: Path) -> None:
    _plans(city)
    out = tmp_path / "report"
    args = ["report", "--network", f"walk={city['npz']}", "--stations", city["stations"], "--areas",
            city["areas"], "--minutes", 5, "--title", city["place"], "--out", out]
    r = _invoke(*args, "--pdf", "--scenario", A, "--scenario", B)
    assert r.exit_code == 0, r.output
    markdown = (out / "report.md").read_text(encoding="utf-8")
    section = markdown.split(f"## 方案比较：{A} 与 {B}", 1)[1]
    for name in ("西片街道", "东片街道", "95%出行时间（分钟）", f"{B} 的动作"):
        assert name in section, name
    for word, glon, glat in _action_points(city, A) + _action_points(city, B):
        assert word in section and f"| {glon:.6f} | {glat:.6f} |" in section, word
    flat = _flat(_pdftotext(out / "report.pdf"))
    assert _flat(f"五、方案比较：{A} 与 {B}") in flat and "西片街道" in flat
    assert (out / "comparison.csv").is_file() and (out / "comparison.xlsx").is_file()
    r = _invoke(*args, "--scenario", A, "--scenario", B, "--scenario", A)
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert r.output.strip() == ("error: --scenario: give one or two stored plans (one: against its base), "
                                "got 3")
    r = _invoke(*args[:-1], tmp_path / "one", "--scenario", A)  # one plan: against its base
    assert r.exit_code == 0, r.output
    one = (tmp_path / "one" / "report.md").read_text(encoding="utf-8")
    assert f"## 方案比较：base 与 {A}" in one and "远端新驿站" in one and "（无动作：即基础站点）" in one
    r = _invoke(*args, "--scenario", "没有的方案")
    assert r.exit_code == 3 and "no scenario named '没有的方案'" in r.output


def _pixels(png: bytes, color: str) -> int:
    """Pixels of a PNG within a small distance of ``color`` (#rrggbb)."""
    import io

    from matplotlib.image import imread

    rgb = imread(io.BytesIO(png))[..., :3]
    target = np.array([int(color[i:i + 2], 16) / 255 for i in (1, 3, 5)])
    return int((np.abs(rgb - target).max(axis=-1) < 0.04).sum())


@pytest.mark.parametrize("name", sorted(CITIES))
def test_the_difference_map_draws_every_change(name: str, tmp_path: Path) -> None:
    """Each kind of change has its colour on the map (and legend) when it happens, none when the plans
    are the same."""
    osm, clip, _ = CITIES[name]
    bounds = None if clip is None else tuple(float(v) for v in clip.split(","))
    net = load_network(data_dir() / osm, mode="walk", clip=bounds, cache_dir=tmp_path)
    big = np.flatnonzero(net.component == 0)
    nodes = big[[len(big) // 7, len(big) // 3, len(big) // 2, 4 * len(big) // 5]]
    base = gpd.GeoDataFrame({"station_id": list("abcd"), "name": list("甲乙丙丁"), "status": "open",
                             "kind": "union_station"},
                            geometry=gpd.points_from_xy(net.lon[nodes], net.lat[nodes]), crs="EPSG:4326")
    far = big[-1]
    plan = Scenario("新").with_action(make_action("add", lon=net.lon[far], lat=net.lat[far]))
    plan = plan.with_action(make_action("close", station_id="a"))
    moved = big[0]
    plan = plan.with_action(make_action("relocate", station_id="b", lon=net.lon[moved], lat=net.lat[moved]))
    demand = demand_from_network(net, meters_per_point=60)
    changed = compare_plans((Scenario("base"), plan), (base, base), net, demand, minutes=5)
    same = compare_plans((Scenario("base"), Scenario("base")), (base, base), net, demand, minutes=5)
    assert set(changed.changes["change"]) == {"added", "closed", "relocated"}
    assert set(changed.comparison.changed["change"]) == {"gained", "lost"}
    png, plain = difference_map_png(changed, net), difference_map_png(same, net)
    colours = [c for c, *_ in STATION_CHANGE_STYLE.values()] + [c for c, *_ in DEMAND_CHANGE_STYLE.values()]
    for colour in colours:
        assert _pixels(png, colour) > 20 and _pixels(plain, colour) == 0, colour
