"""Networks straight from .osm.pbf (pyosmium) equal today's osmnx XML path, arc for arc.

Each shared .osm extract is converted to PBF (and bz2 XML) here with pyosmium's writer; the
reference is :func:`geo.network.network_from_graph` over ``osmnx.graph_from_xml`` of the XML.
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
import shapely
from typer.testing import CliRunner

from api.cli import app
from geo.errors import InputError
from geo.network import Network, load_network, network_from_graph, read_network_npz
from geo.osm.build import network_from_osm
from geo.osm.halo import Area, buffer_meters, halo_meters
from geo.osm.synthetic import write_osm
from tests.geo.conftest import changsha_osm, read_raw_osmnx, shanghai_osm, shenzhen_osm

PLACES = {"shenzhen": shenzhen_osm, "shanghai": shanghai_osm, "changsha": changsha_osm}
runner = CliRunner()


@pytest.fixture(scope="module")
def raw(request: pytest.FixtureRequest) -> dict[str, nx.MultiDiGraph]:
    return {name: read_raw_osmnx(path()) for name, path in PLACES.items()}


@pytest.fixture(scope="module")
def pbf_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pbf")
    for name, path in PLACES.items():
        write_osm(path(), out / f"{name}.osm.pbf")
    return out


def assert_same_network(got: Network, want: Network) -> None:
    """Same node ids, coordinates to 1e-7°, same directed arcs (with duplicates), lengths to 1 mm."""
    np.testing.assert_array_equal(got.node_id, want.node_id)
    np.testing.assert_allclose(got.lon, want.lon, rtol=0, atol=1e-7)
    np.testing.assert_allclose(got.lat, want.lat, rtol=0, atol=1e-7)
    got_arcs = sorted(zip(got.node_id[got.tails].tolist(), got.node_id[got.indices].tolist(), strict=True))
    want_arcs = sorted(
        zip(want.node_id[want.tails].tolist(), want.node_id[want.indices].tolist(), strict=True)
    )
    assert got_arcs == want_arcs
    np.testing.assert_array_equal(got.indptr, want.indptr)
    np.testing.assert_array_equal(got.indices, want.indices)
    np.testing.assert_allclose(got.length_m, want.length_m, rtol=0, atol=1e-3)
    np.testing.assert_array_equal(got.component, want.component)


@pytest.mark.parametrize("mode", ["walk", "ebike"])
@pytest.mark.parametrize("place", list(PLACES))
def test_pbf_network_equals_osmnx_xml(
    place: str, mode: str, raw: dict[str, nx.MultiDiGraph], pbf_dir: Path
) -> None:
    want = network_from_graph(raw[place], mode=mode)
    got = network_from_osm(pbf_dir / f"{place}.osm.pbf", mode=mode)
    assert got.n_arcs > 100
    assert_same_network(got, want)


@pytest.mark.parametrize("oneway", [False, True])
def test_pbf_oneway_options_and_clip_equal_osmnx(
    oneway: bool, raw: dict[str, nx.MultiDiGraph], pbf_dir: Path
) -> None:
    bbox = (113.92, 22.535, 113.97, 22.56)
    for mode in ("walk", "ebike"):
        want = network_from_graph(raw["shenzhen"], mode=mode, oneway=oneway, clip=bbox)
        got = network_from_osm(pbf_dir / "shenzhen.osm.pbf", mode=mode, oneway=oneway, clip=bbox)
        assert_same_network(got, want)
    assert want.symmetric is not oneway


def test_bz2_xml_read_by_pyosmium_equals_osmnx(raw: dict[str, nx.MultiDiGraph], tmp_path: Path) -> None:
    packed = write_osm(changsha_osm(), tmp_path / "changsha.osm.bz2")
    assert_same_network(
        network_from_osm(packed, mode="walk"), network_from_graph(raw["changsha"], mode="walk")
    )


def test_load_network_and_cli_accept_pbf(
    pbf_dir: Path, tmp_path: Path, raw: dict[str, nx.MultiDiGraph]
) -> None:
    pbf = pbf_dir / "shanghai.osm.pbf"
    cached = load_network(pbf, mode="ebike", cache_dir=tmp_path / "cache")
    again = load_network(pbf, mode="ebike", cache_dir=tmp_path / "cache")  # from the .npz cache
    assert_same_network(again, cached)
    out = tmp_path / "sh.npz"
    res = runner.invoke(app, ["network", "build", "--osm", str(pbf), "--mode", "ebike", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["arcs"] == cached.n_arcs
    assert_same_network(read_network_npz(out), network_from_graph(raw["shanghai"], mode="ebike"))


def _county(tmp_path: Path) -> tuple[Path, shapely.Polygon]:
    poly = shapely.box(113.935, 22.54, 113.95, 22.55)
    path = tmp_path / "county.geojson"
    gpd.GeoDataFrame(
        {"adcode": [440305, 440306], "name": ["南山", "外"]},
        geometry=[poly, shapely.box(114.5, 22.9, 114.6, 23.0)],
        crs="EPSG:4326",
    ).to_file(path)
    return path, poly


@pytest.mark.parametrize("mode", ["walk", "ebike"])
def test_area_halo_keeps_arcs_with_both_ends_within_halo(mode: str, pbf_dir: Path, tmp_path: Path) -> None:
    """Halo = speed × minutes in metres: checked against distances in UTM 49N (EPSG:32649)."""
    path, poly = _county(tmp_path)
    out = tmp_path / f"{mode}.npz"
    res = runner.invoke(app, ["network", "build", "--osm", str(pbf_dir / "shenzhen.osm.pbf"), "--mode", mode,
                              "--area", str(path), "--area-code", "440305", "--halo-minutes", "3",
                              "--out", str(out)])  # fmt: skip
    assert res.exit_code == 0, res.output
    net = read_network_npz(out)
    full = network_from_osm(pbf_dir / "shenzhen.osm.pbf", mode=mode)
    halo = halo_meters(full.speed_kph, 3)
    assert halo == pytest.approx({"walk": 225.0, "ebike": 750.0}[mode])
    utm = gpd.GeoSeries([poly], crs="EPSG:4326").to_crs("EPSG:32649").iloc[0]
    pts = gpd.GeoSeries(gpd.points_from_xy(full.lon, full.lat), crs="EPSG:4326").to_crs("EPSG:32649")
    dist = pts.distance(utm).to_numpy()
    t, h = full.tails, full.indices
    ids = set(zip(full.node_id[t].tolist(), full.node_id[h].tolist(), strict=True))
    got = set(zip(net.node_id[net.tails].tolist(), net.node_id[net.indices].tolist(), strict=True))
    sure_in = np.maximum(dist[t], dist[h]) <= halo * 0.998 - 1.0  # UTM scale error, polygonal circle
    sure_out = np.maximum(dist[t], dist[h]) > halo * 1.002 + 1.0
    assert got <= ids
    assert set(zip(full.node_id[t[sure_in]].tolist(), full.node_id[h[sure_in]].tolist(), strict=True)) <= got
    assert not got & set(
        zip(full.node_id[t[sure_out]].tolist(), full.node_id[h[sure_out]].tolist(), strict=True)
    )
    assert sure_out.any() and sure_in.sum() > 100
    meta = net.options["area"]
    assert meta["code"] == "440305" and meta["name"] == "南山"
    assert meta["halo_minutes"] == 3.0 and meta["halo_m"] == pytest.approx(halo)
    assert shapely.geometry.shape(meta["polygon"]).equals(poly)


def test_buffer_meters_is_metric_everywhere() -> None:
    """A 1 km buffer is 1 km in an equal-distance check at two latitudes (not degrees)."""
    for lat in (22.5, 45.0):
        box = shapely.box(113.0, lat, 113.01, lat + 0.01)
        ring = buffer_meters(box, 1000.0).exterior
        utm = gpd.GeoSeries([box, ring], crs="EPSG:4326").to_crs(
            gpd.GeoSeries([box], crs=4326).estimate_utm_crs()
        )
        d = utm.iloc[1].distance(utm.iloc[0])
        assert d == pytest.approx(1000.0, rel=2e-3)
        assert utm.iloc[0].hausdorff_distance(utm.iloc[1]) < 1010.0


def test_area_outside_file_is_refused(pbf_dir: Path) -> None:
    far = Area(code="110101", name="东城", geometry=shapely.box(116.4, 39.9, 116.42, 39.92))
    with pytest.raises(InputError, match=r"area 110101 \(东城\) lies outside .*shenzhen.osm.pbf"):
        network_from_osm(pbf_dir / "shenzhen.osm.pbf", mode="walk", area=far, halo_minutes=10)


def test_network_build_bad_inputs_one_line_and_no_output(pbf_dir: Path, tmp_path: Path) -> None:
    truncated = tmp_path / "cut.osm.pbf"
    truncated.write_bytes((pbf_dir / "shenzhen.osm.pbf").read_bytes()[:5000])
    no_code, _ = _county(tmp_path)
    gpd.read_file(no_code).drop(columns=["adcode"]).to_file(tmp_path / "nocode.geojson")
    out = tmp_path / "out.npz"
    cases = [
        (["--osm", str(truncated)], "cut.osm.pbf is not a readable OSM file"),
        (["--osm", str(tmp_path / "missing.osm.pbf")], "does not exist"),
        (["--osm", str(pbf_dir / "shenzhen.osm.pbf"), "--area", str(tmp_path / "nocode.geojson"),
          "--area-code", "440305"], "nocode.geojson has no code field 'adcode'"),
        (["--osm", str(pbf_dir / "shenzhen.osm.pbf"), "--area", str(no_code), "--area-code", "440306"],
         "area 440306 (外) lies outside the bounds"),
    ]  # fmt: skip
    for args, message in cases:
        res = runner.invoke(app, ["network", "build", *args, "--out", str(out)])
        assert res.exit_code != 0, res.output
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], res.stderr
        assert not out.exists() and not list(tmp_path.glob("*.tmp"))


def test_segments_with_missing_nodes_are_dropped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    import osmium

    path = tmp_path / "holes.osm.pbf"
    with osmium.SimpleWriter(str(path)) as w:
        for i in (1, 2, 4, 5, 6):
            w.add_node(osmium.osm.mutable.Node(id=i, location=(113.9 + i * 1e-3, 22.5)))
        w.add_way(osmium.osm.mutable.Way(id=1, nodes=[1, 2, 2, 3, 4, 5], tags={"highway": "footway"}))
        w.add_way(osmium.osm.mutable.Way(id=2, nodes=[5, 6], tags={"highway": "residential", "oneway": "-1"}))
    net = network_from_osm(path, mode="ebike", oneway=True)
    arcs = sorted(zip(net.node_id[net.tails].tolist(), net.node_id[net.indices].tolist(), strict=True))
    assert arcs == [(6, 5)]  # footway not for e-bikes; oneway=-1 runs against the node order
    walk = network_from_osm(path, mode="walk")
    arcs = sorted(zip(walk.node_id[walk.tails].tolist(), walk.node_id[walk.indices].tolist(), strict=True))
    assert arcs == [(1, 2), (2, 1), (4, 5), (5, 4), (5, 6), (6, 5)]  # 2-3 and 3-4 lack node 3
    assert "2 highway segments reference nodes missing from the file" in caplog.text
