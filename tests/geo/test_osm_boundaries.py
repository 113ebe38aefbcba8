"""Boundary relations assembled by libosmium (PBF) against geo.areas' own XML assembly."""

from __future__ import annotations

import json
from pathlib import Path

import osmium
import pytest
import shapely
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from api.cli import app
from geo.areas import areas_from_osm
from geo.errors import InputError
from geo.osm.boundaries import boundaries_from_osm
from geo.osm.synthetic import write_osm

LON0, LAT0, STEP = 113.90, 22.50, 0.01


def _write_boundaries(path: Path) -> Path:
    """A 3×2 grid of nodes: county 甲 = left square (4 ways, a hole cut by an inner ring), 乙 = right
    square with one member way missing (does not close), and a closed admin_level 8 relation."""
    nodes = {}
    nid = 1
    for j in range(3):
        for i in range(3):
            nodes[(i, j)] = nid
            nid += 1
    hole = [(0.3, 0.3), (0.6, 0.3), (0.6, 0.6), (0.3, 0.6)]
    with osmium.SimpleWriter(str(path)) as w:
        for (i, j), n in nodes.items():
            w.add_node(osmium.osm.mutable.Node(id=n, location=(LON0 + i * STEP, LAT0 + j * STEP)))
        for k, (x, y) in enumerate(hole):
            w.add_node(osmium.osm.mutable.Node(id=100 + k, location=(LON0 + x * STEP, LAT0 + y * STEP)))
        n = nodes
        ways = {
            1: [n[0, 0], n[1, 0]], 2: [n[1, 0], n[1, 1]], 3: [n[1, 1], n[0, 1]], 4: [n[0, 1], n[0, 0]],
            5: [n[1, 0], n[2, 0]], 6: [n[2, 0], n[2, 1]], 7: [n[2, 1], n[1, 1]],  # 乙 also needs way 2
            8: [100, 101, 102, 103, 100],
            9: [n[0, 1], n[1, 1], n[1, 2], n[0, 2], n[0, 1]],
        }  # fmt: skip
        for wid, refs in ways.items():
            w.add_way(osmium.osm.mutable.Way(id=wid, nodes=refs, tags={"boundary": "administrative"}))
        rels = [
            (10, "甲区", "6", "440301", [1, 2, 3, 4], [8]),
            (11, "乙区", "6", "440302", [5, 6, 7], []),
            (12, "丙街道", "8", "440301001", [9], []),
        ]
        for rid, name, level, code, outer, inner in rels:
            members = [("w", m, "outer") for m in outer] + [("w", m, "inner") for m in inner]
            tags = {"type": "boundary", "boundary": "administrative", "admin_level": level,
                    "name": name, "division_code": code}  # fmt: skip
            w.add_relation(osmium.osm.mutable.Relation(id=rid, members=members, tags=tags))
    return path


def test_closed_relation_assembled_unclosed_reported(tmp_path: Path) -> None:
    pbf = _write_boundaries(tmp_path / "admin.osm.pbf")
    got = boundaries_from_osm(pbf, admin_level=6, level="county")
    assert got.frame["area_code"].tolist() == ["440301"]
    assert got.frame["area_name"].tolist() == ["甲区"]
    assert got.unclosed == ((11, "乙区"),)
    square = shapely.box(LON0, LAT0, LON0 + STEP, LAT0 + STEP)
    hole = shapely.box(LON0 + 0.3 * STEP, LAT0 + 0.3 * STEP, LON0 + 0.6 * STEP, LAT0 + 0.6 * STEP)
    geom = got.frame.geometry.iloc[0]
    assert geom.symmetric_difference(square.difference(hole)).area < 1e-14
    # geo.areas' own assembly of the same data written as XML gives the same polygon
    xml = write_osm(pbf, tmp_path / "admin.osm")
    ref = areas_from_osm(xml, admin_level=6, level="county")
    ref_geom = ref.loc[ref["area_code"] == "440301"].geometry.iloc[0]
    assert geom.symmetric_difference(ref_geom).area < 1e-14
    level8 = boundaries_from_osm(pbf, admin_level=8, level="township")
    assert level8.frame["area_code"].tolist() == ["440301001"] and level8.unclosed == ()


def test_bad_boundary_files(tmp_path: Path) -> None:
    bad = tmp_path / "cut.osm.pbf"
    bad.write_bytes(_write_boundaries(tmp_path / "ok.osm.pbf").read_bytes()[:200])
    with pytest.raises(InputError, match=r"cut\.osm\.pbf is not a readable OSM file"):
        boundaries_from_osm(bad)
    with pytest.raises(InputError, match="level must be one of"):
        boundaries_from_osm(tmp_path / "ok.osm.pbf", level="province")


def test_cli_areas_import_osm_pbf(clean_store: Engine, tmp_path: Path) -> None:
    pbf = _write_boundaries(tmp_path / "admin.osm.pbf")
    res = CliRunner().invoke(app, ["areas", "import", "--osm", str(pbf), "--admin-level", "6", "--json"])
    assert res.exit_code == 0, res.output
    got = json.loads(res.stdout)
    assert (got["inserted"], got["level"], got["areas"]) == (
        1,
        "county",
        [{"code": "440301", "name": "甲区"}],
    )
    assert "boundary relation 11 (乙区) does not close" in res.stderr
    with clean_store.connect() as conn:
        rows = conn.execute(text("SELECT code, level FROM areas")).all()
    assert [tuple(r) for r in rows] == [("440301", "county")]
    none = CliRunner().invoke(app, ["areas", "import", "--osm", str(pbf), "--admin-level", "4"])
    assert none.exit_code == 2 and "no closed admin_level=4 boundary" in none.stderr
