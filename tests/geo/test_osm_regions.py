"""``yizhan network build-areas`` on a small synthetic province tiled from the Changsha extract.

Each county's network is checked against the independent osmnx path (the province written as
XML, ``osmnx.graph_from_xml`` → :func:`geo.network.network_from_graph`, clipped to the county
buffered by the halo); the manifest follows the issue's format field by field; bad inputs give
one-line errors and leave nothing behind.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import geopandas as gpd
import numpy as np
import osmium
import pytest
import shapely
from typer.testing import CliRunner, Result

from api.cli import app
from geo.network import network_from_graph, read_network_npz
from geo.osm.build import network_from_osm
from geo.osm.halo import buffer_meters, halo_meters
from geo.osm.synthetic import SyntheticProvince, tile_province, write_osm
from tests.geo.conftest import changsha_osm, read_raw_osmnx
from tests.geo.test_pbf import assert_same_network

runner = CliRunner()
FIELDS = {"code", "name", "mode", "nodes", "arcs", "halo_m", "bbox", "file", "source", "source_sha256"}
HALO_MINUTES = 2.0


@pytest.fixture(scope="module")
def province(tmp_path_factory: pytest.TempPathFactory) -> SyntheticProvince:
    return tile_province(changsha_osm(), tmp_path_factory.mktemp("province"), cols=2, rows=2)


def _areas_cli(osm: Path, areas: Path, out: Path, *extra: str) -> Result:
    args = ["network", "build-areas", "--osm", str(osm), "--areas", str(areas), "--out", str(out)]
    return runner.invoke(app, [*args, "--no-progress", *extra])


def _build(province: SyntheticProvince, out: Path, *extra: str) -> dict:
    args = ["network", "build-areas", "--osm", str(province.pbf), "--areas", str(province.areas),
            "--code-field", "adcode", "--modes", "walk,ebike", "--halo-minutes", str(HALO_MINUTES),
            "--out", str(out), "--no-progress", *extra]  # fmt: skip
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_synthetic_province_is_one_connected_street_network(province: SyntheticProvince) -> None:
    net = network_from_osm(province.pbf, mode="walk")
    tiles = set((net.node_id[net.component == 0] // province.id_stride).tolist())
    assert tiles == {0, 1, 2, 3}  # the connecting ways join every tile to the largest piece
    assert province.codes == ("990001", "990002", "990003", "990004")
    counties = gpd.read_file(province.areas)
    assert counties["adcode"].tolist() == [990001, 990002, 990003, 990004]
    assert shapely.union_all(counties.geometry.values).area == pytest.approx(
        4 * province.tile_degrees[0] * province.tile_degrees[1]
    )


def test_build_areas_matches_osmnx_per_county(province: SyntheticProvince, tmp_path: Path) -> None:
    out = tmp_path / "nets"
    summary = _build(province, out)
    assert summary["built"] == 8 and summary["reused"] == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest) == {"areas"}
    entries = manifest["areas"]
    assert [(e["code"], e["mode"]) for e in entries] == [
        (c, m) for m in ("walk", "ebike") for c in province.codes
    ]
    xml = write_osm(province.pbf, tmp_path / "province.osm")
    raw = read_raw_osmnx(xml)
    counties = {str(r.adcode): r for r in gpd.read_file(province.areas).itertuples()}
    for e in entries:
        assert set(e) == FIELDS and isinstance(e["code"], str)
        assert e["name"] == counties[e["code"]].name
        assert e["file"] == f"{e['code']}/{e['mode']}.npz" and not Path(e["file"]).is_absolute()
        assert e["source"] == str(province.pbf.resolve())
        net = read_network_npz(out / e["file"])
        assert (e["nodes"], e["arcs"]) == (net.n_nodes, net.n_arcs)
        halo = halo_meters(net.speed_kph, HALO_MINUTES)
        assert e["halo_m"] == pytest.approx(halo)
        assert e["bbox"] == [net.lon.min(), net.lat.min(), net.lon.max(), net.lat.max()]
        clip = buffer_meters(counties[e["code"]].geometry, halo)
        assert_same_network(net, network_from_graph(raw, mode=e["mode"], clip=clip))
        assert net.options["area"]["code"] == e["code"]
        assert net.options["area"]["halo_m"] == pytest.approx(halo)
    assert {e["source_sha256"] for e in entries} == {read_network_npz(out / entries[0]["file"]).source_hash}


def test_rerun_skips_unchanged_areas(province: SyntheticProvince, tmp_path: Path) -> None:
    out = tmp_path / "nets"
    _build(province, out)
    before = {p: p.stat().st_ino for p in out.rglob("*.npz")}
    again = _build(province, out)
    assert (again["built"], again["reused"]) == (0, 8)
    assert {p: p.stat().st_ino for p in out.rglob("*.npz")} == before
    # move one county's border: only its two networks are rebuilt
    counties = gpd.read_file(province.areas)
    counties.loc[0, "geometry"] = shapely.affinity.scale(counties.geometry[0], 0.9, 0.9)
    changed = tmp_path / "changed.geojson"
    counties.to_file(changed)
    res = _areas_cli(province.pbf, changed, out, "--halo-minutes", str(HALO_MINUTES))
    assert res.exit_code == 0, res.output
    assert (json.loads(res.stdout)["built"], json.loads(res.stdout)["reused"]) == (2, 6)
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".nets")]  # no temporary left


def _no_highway_pbf(path: Path) -> Path:
    with osmium.SimpleWriter(str(path)) as w:
        for i in range(3):
            w.add_node(osmium.osm.mutable.Node(id=i + 1, location=(112.94 + i * 1e-3, 28.18)))
        w.add_way(osmium.osm.mutable.Way(id=1, nodes=[1, 2, 3, 1], tags={"building": "yes"}))
    return path


def test_bad_inputs_give_one_line_errors_and_write_nothing(
    province: SyntheticProvince, tmp_path: Path
) -> None:
    truncated = tmp_path / "truncated.osm.pbf"
    truncated.write_bytes(province.pbf.read_bytes()[: province.pbf.stat().st_size // 2])
    no_code = tmp_path / "no-code.geojson"
    gpd.read_file(province.areas).drop(columns=["adcode"]).to_file(no_code)
    outside = tmp_path / "outside.geojson"
    far = gpd.read_file(province.areas)
    far.loc[3, "geometry"] = shapely.box(116.4, 39.9, 116.42, 39.92)
    far.to_file(outside)
    cases = [
        (truncated, province.areas, "truncated.osm.pbf is not a readable OSM file"),
        (_no_highway_pbf(tmp_path / "houses.osm.pbf"), province.areas, "houses.osm.pbf has no highway"),
        (province.pbf, no_code, "no-code.geojson has no code field 'adcode'"),
        (province.pbf, outside, "area 990004 (合成县 4) lies outside the bounds"),
    ]
    for osm, areas, message in cases:
        out = tmp_path / "never"
        res = _areas_cli(osm, areas, out)
        assert res.exit_code == 2, res.output
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0] and "Traceback" not in res.output
        assert not out.exists()
        assert not [p for p in tmp_path.iterdir() if p.name.startswith(".never")]


def test_failed_rerun_keeps_the_previous_output(province: SyntheticProvince, tmp_path: Path) -> None:
    out = tmp_path / "nets"
    _build(province, out)
    manifest = (out / "manifest.json").read_bytes()
    outside = tmp_path / "outside.geojson"
    far = gpd.read_file(province.areas)
    far.loc[0, "geometry"] = shapely.box(116.4, 39.9, 116.42, 39.92)
    far.to_file(outside)
    res = _areas_cli(province.pbf, outside, out)
    assert res.exit_code == 2
    assert (out / "manifest.json").read_bytes() == manifest
    assert len(list(out.rglob("*.npz"))) == 8


def test_refuses_to_replace_a_foreign_folder(province: SyntheticProvince, tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.txt").write_text("keep me")
    res = _areas_cli(province.pbf, province.areas, tmp_path / "mine")
    assert res.exit_code == 2 and "not the output of an earlier build-areas run" in res.stderr
    assert os.listdir(tmp_path / "mine") == ["thesis.txt"]


def test_single_area_build_equals_build_areas(province: SyntheticProvince, tmp_path: Path) -> None:
    out = tmp_path / "nets"
    _build(province, out)
    one = tmp_path / "one.npz"
    res = runner.invoke(app, ["network", "build", "--osm", str(province.pbf), "--mode", "ebike", "--area",
                              str(province.areas), "--area-code", "990002", "--halo-minutes",
                              str(HALO_MINUTES), "--out", str(one)])  # fmt: skip
    assert res.exit_code == 0, res.output
    single, batch = read_network_npz(one), read_network_npz(out / "990002" / "ebike.npz")
    assert_same_network(single, batch)
    assert np.isclose(single.options["area"]["halo_m"], batch.options["area"]["halo_m"])


def test_county_blocks_cover_the_tiles(tmp_path: Path) -> None:
    prov = tile_province(changsha_osm(), tmp_path, cols=3, rows=2, county_tiles=(2, 2), name="blocks")
    counties = gpd.read_file(prov.areas)
    assert counties["adcode"].tolist() == [990001, 990002]
    w, h = prov.tile_degrees
    assert shapely.area(counties.geometry.values).tolist() == pytest.approx([4 * w * h, 2 * w * h])
    net = network_from_osm(prov.pbf, mode="ebike")
    assert set((net.node_id // prov.id_stride).tolist()) == set(range(6))
