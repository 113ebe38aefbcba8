"""``yizhan audit maps`` on planted cases: stations made at test time from real OSM POIs of Shenzhen
Nanshan and the Shanghai Bund, and a provider "export" (GCJ-02 / BD-09) with listed, misplaced,
renamed, missing and extra stations plus look-alike noise; the audit must find exactly the planted ones."""

from __future__ import annotations

import csv
import json
import math
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any

import geopandas as gpd
import pytest
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from api.cli import app
from geo.crs import convert

runner = CliRunner()
CITIES = {
    "nanshan": "shenzhen_roadnetworkcreator/shenzhen_nanshan_osm_pois.geojson",
    "bund": "shanghai_maptalks_tilezen/shanghai_bund_pois.geojson",
}


def _meters(a: tuple[float, float], b: tuple[float, float]) -> float:
    k = math.cos(math.radians((a[1] + b[1]) / 2))
    return math.hypot((a[0] - b[0]) * 111_320 * k, (a[1] - b[1]) * 110_574)


def _picks(data_dir: Path, rel: str, n: int) -> list[tuple[str, float, float]]:
    """``n`` named POIs (Chinese names) pairwise ≥ 400 m apart with unlike names, in file order."""
    pois = gpd.read_file(data_dir / rel)
    names = pois["name:zh"].fillna(pois["name"])
    out: list[tuple[str, float, float]] = []
    for name, geom in zip(names, pois.geometry, strict=True):
        if not isinstance(name, str) or not any("\u4e00" <= ch <= "\u9fff" for ch in name) or len(name) > 12:
            continue
        p = (float(geom.x), float(geom.y))
        if all(
            _meters(p, (q[1], q[2])) >= 400 and SequenceMatcher(None, name, q[0]).ratio() < 0.5 for q in out
        ):
            out.append((name, *p))
        if len(out) == n:
            return out
    pytest.fail(f"only {len(out)} usable POIs in {rel}")


def _shift(lon: float, lat: float, north_m: float) -> tuple[float, float]:
    return lon, lat + north_m / 110_574


def _plant(data_dir: Path) -> tuple[list[dict[str, Any]], dict[str, list[dict[str, Any]]], dict[str, Any]]:
    """Stations (WGS-84), one POI export per city (WGS-84 here, converted when written) and the truth."""
    stations: list[dict[str, Any]] = []
    exports: dict[str, list[dict[str, Any]]] = {"nanshan": [], "bund": []}
    truth: dict[str, Any] = {
        "missing": set(),
        "misplaced": {},
        "renamed": {},
        "unregistered": set(),
        "listed": set(),
    }
    for city in CITIES:
        picks = _picks(data_dir, CITIES[city], 8)
        far = picks[7]  # a place with no station: the extra station goes there
        for k, (poi, lon, lat) in enumerate(picks[:7]):
            name = f"{poi}劳动者港湾" if k % 2 else f"{poi}爱心驿站"
            ext = f"{city}-{k}"
            if k == 6:  # same name as station 0 (two branches of one host): both must be listed
                name = stations[-6]["名称"]
            stations.append(
                {"编号": ext, "名称": name, "经度": lon, "纬度": lat, "类型": "工会驿站", "地址": poi}
            )
            role = ("listed", "misplaced", "renamed", "missing", "listed", "listed", "listed")[k]
            if role == "listed":
                exports[city].append({"名称": name, "地址": poi, "lon": lon + 3e-5, "lat": lat})  # ~3 m off
                truth["listed"].add(ext)
            elif role == "misplaced":
                plon, plat = _shift(lon, lat, 150 if city == "nanshan" else 80)
                exports[city].append({"名称": name, "地址": poi, "lon": plon, "lat": plat})
                truth["misplaced"][ext] = 150 if city == "nanshan" else 80
            elif role == "renamed":
                exports[city].append(
                    {"名称": f"滨海{city}暖心驿站", "地址": poi, "lon": lon, "lat": lat + 1e-4}
                )
                truth["renamed"][ext] = f"滨海{city}暖心驿站"
            else:
                truth["missing"].add(ext)
                # noise beside the missing station: neither is a worker station
                exports[city].append({"名称": "麦当劳", "地址": poi, "lon": lon + 5e-5, "lat": lat})
                exports[city].append({"名称": "菜鸟驿站", "地址": poi, "lon": lon, "lat": lat + 5e-5})
        extra = f"{far[0]}户外劳动者服务站点"
        exports[city].append({"名称": extra, "地址": far[0], "lon": far[1], "lat": far[2]})
        truth["unregistered"].add(extra)
        exports[city].reverse()  # order must not matter
    return stations, exports, truth


def _write(rows: list[dict[str, Any]], path: Path, *, crs: str | None = None) -> Path:
    cols = list(rows[0])
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["名称", "地址", "经度", "纬度"] if crs else cols)
        for r in rows:
            if crs:
                x, y = convert(r["lon"], r["lat"], src="wgs84", dst=crs)
                w.writerow([r["名称"], r["地址"], f"{x:.7f}", f"{y:.7f}"])
            else:
                w.writerow([r[c] for c in cols])
    return path


@pytest.fixture()
def ops_store(clean_store: Engine) -> Any:
    with clean_store.begin() as conn:
        conn.execute(text("TRUNCATE map_presence RESTART IDENTITY"))
    yield clean_store
    with clean_store.begin() as conn:
        conn.execute(text("TRUNCATE map_presence RESTART IDENTITY"))


def test_audit_finds_exactly_the_planted_cases(ops_store: Engine, data_dir: Path, tmp_path: Path) -> None:
    stations, exports, truth = _plant(data_dir)
    assert (
        runner.invoke(app, ["stations", "import", str(_write(stations, tmp_path / "s.csv"))]).exit_code == 0
    )
    with ops_store.connect() as conn:
        ids = dict(conn.execute(text("SELECT external_id, id FROM stations")).all())
    found: dict[str, Any] = {
        "missing": set(),
        "misplaced": {},
        "renamed": {},
        "unregistered": set(),
        "listed": 0,
    }
    submits: list[dict[str, str]] = []
    for city, crs in (("nanshan", "gcj02"), ("bund", "bd09")):
        pois = _write(exports[city], tmp_path / f"{city}.csv", crs=crs)
        out = tmp_path / f"audit-{city}"
        result = runner.invoke(
            app, ["audit", "maps", "--pois", str(pois), "--crs", crs, "--out", str(out), "--json"]
        )
        assert result.exit_code == 0, result.output
        body = json.loads(result.stdout)
        by_id = {v: k for k, v in ids.items()}
        mine = {k for k in by_id.values() if k.startswith(city)}
        found["missing"] |= {by_id[f["station_id"]] for f in body["missing"]} & mine
        found["misplaced"].update({by_id[f["station_id"]]: f["distance_m"] for f in body["misplaced"]})
        found["renamed"].update({by_id[f["station_id"]]: f["poi_name"] for f in body["renamed"]})
        found["unregistered"] |= {f["poi_name"] for f in body["unregistered"]}
        found["listed"] += body["listed"]
        with (out / "submit.csv").open(encoding="utf-8-sig") as fh:
            rows = list(csv.DictReader(fh))
        assert all(r["crs"] == crs for r in rows)
        submits += rows
    # the other city's stations are "missing" in each run: only this city's are counted above
    assert found["missing"] == truth["missing"]
    assert set(found["misplaced"]) == set(truth["misplaced"])
    for ext, meters in truth["misplaced"].items():
        assert found["misplaced"][ext] == pytest.approx(meters, abs=1.5)
    assert found["renamed"] == truth["renamed"]
    assert found["unregistered"] == truth["unregistered"]
    assert found["listed"] == len(truth["listed"])
    # submit.csv: missing and misplaced stations at their registry position in the export's CRS
    by_ext = {s["编号"]: s for s in stations}
    assert {int(r["station_id"]) for r in submits if r["reason"] == "missing"} >= {
        ids[e] for e in truth["missing"]
    }
    for ext in truth["misplaced"]:
        (row,) = [r for r in submits if int(r["station_id"]) == ids[ext] and r["reason"] != "missing"]
        x, y = convert(by_ext[ext]["经度"], by_ext[ext]["纬度"], src="wgs84", dst=row["crs"])
        assert (float(row["lon"]), float(row["lat"])) == pytest.approx((x, y), abs=1e-6)
        assert row["reason"].startswith("misplaced by") and row["name"] == by_ext[ext]["名称"]
    with ops_store.connect() as conn:
        stored = dict(
            conn.execute(
                text(
                    "SELECT DISTINCT ON (station_id) station_id, status FROM map_presence "
                    "ORDER BY station_id, id DESC"
                )
            ).all()
        )
    assert stored[ids["bund-1"]] == "misplaced" and stored[ids["bund-0"]] == "listed"


def test_audit_rejects_bad_poi_rows(ops_store: Engine, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        "名称,经度,纬度\n好驿站,113.94,22.54\n,113.95,22.55\n坏驿站,2.35,48.85\n", encoding="utf-8"
    )
    result = runner.invoke(
        app, ["audit", "maps", "--pois", str(path), "--crs", "gcj02", "--out", str(tmp_path)]
    )
    assert result.exit_code == 2 and "rejected" in result.stderr
    nohead = tmp_path / "nohead.csv"
    nohead.write_text("title,x\n好驿站,113.94\n", encoding="utf-8")
    result = runner.invoke(
        app, ["audit", "maps", "--pois", str(nohead), "--crs", "bd09", "--out", str(tmp_path)]
    )
    assert result.exit_code == 2 and "lat" in result.stderr
