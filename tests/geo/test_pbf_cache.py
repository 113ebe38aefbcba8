"""The network cache stores the reverse CSR and the contracted junction graph of the coverage
search, checked against the network's checksum, so a later process skips building them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from geo import _contract, snapping
from geo.network import Network, network_checksum, read_network_npz, save_network
from geo.osm.build import network_from_osm
from geo.osm.synthetic import tile_province
from tests.geo.conftest import shenzhen_osm


@pytest.fixture(scope="module")
def big_ebike(tmp_path_factory: pytest.TempPathFactory) -> Network:
    """A one-way (asymmetric) e-bike network above the contraction threshold (2×2 Shenzhen tiles)."""
    prov = tile_province(shenzhen_osm(), tmp_path_factory.mktemp("tiles"), cols=2, rows=2)
    net = network_from_osm(prov.pbf, mode="ebike")
    assert net.n_nodes >= _contract.MIN_NODES and not net.symmetric
    return net


def _runs(net: Network) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(7)
    search = _contract.contracted_search(net)
    out = []
    for k in (1, 40, 400):
        src = rng.choice(net.n_nodes, size=k, replace=False).astype(np.int64)
        off = rng.uniform(0, 300, size=k)
        search.small_pass_fraction = 0  # always the junction graph, the stored part
        out.append(search.run(src, off, limit_m=4000.0))
    return out


def test_stored_search_equals_a_fresh_build(
    big_ebike: Network, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = save_network(big_ebike, tmp_path / "net.npz", derived=True)
    loaded = read_network_npz(path)
    with monkeypatch.context() as m:  # the loaded network's search must come from the file
        m.setattr(_contract.ContractedSearch, "__init__", lambda *a, **k: pytest.fail("rebuilt"))
        restored = _contract.contracted_search(loaded)
    assert "reverse_arrays" in vars(loaded)  # attached, not rebuilt
    for got, want in zip(loaded.reverse_arrays, big_ebike.reverse_arrays, strict=True):
        np.testing.assert_array_equal(got, want)
    fresh = read_network_npz(save_network(big_ebike, tmp_path / "plain.npz"))
    assert "reverse_arrays" not in vars(fresh)
    for (d1, o1), (d2, o2) in zip(_runs(loaded), _runs(fresh), strict=True):
        np.testing.assert_array_equal(o1, o2)
        np.testing.assert_allclose(d1, d2, rtol=0, atol=1e-6)
        np.testing.assert_array_equal(np.isfinite(d1), np.isfinite(d2))
    built = _contract.contracted_search(fresh)
    np.testing.assert_array_equal(restored.junction_indices, built.junction_indices)
    assert restored.n_junctions == built.n_junctions < loaded.n_nodes


def test_stored_search_ignored_when_checksum_differs(
    big_ebike: Network, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = save_network(big_ebike, tmp_path / "net.npz", derived=True)
    with np.load(path) as z:
        assert any(k.startswith("contract__") for k in z.files)
        meta = json.loads(str(z["meta"]))
    meta["derived"]["checksum"] = "0" * 64
    tampered = tmp_path / "tampered.npz"
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["meta"] = np.asarray(json.dumps(meta))
    np.savez(tampered, **arrays)
    loaded = read_network_npz(tampered)
    assert "do not match the network's checksum" in caplog.text
    assert "reverse_arrays" not in vars(loaded)
    assert network_checksum(loaded) == network_checksum(big_ebike)


def _points(net: Network, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Points in the network's extent: every tenth exactly at a node, the rest anywhere."""
    rng = np.random.default_rng(seed)
    lon = rng.uniform(net.lon.min(), net.lon.max(), count)
    lat = rng.uniform(net.lat.min(), net.lat.max(), count)
    at = rng.choice(net.n_nodes, size=count // 10, replace=False)
    lon[: at.size], lat[: at.size] = net.lon[at], net.lat[at]
    return lon, lat


def test_stored_snapping_index_equals_a_fresh_build(
    big_ebike: Network, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = save_network(big_ebike, tmp_path / "net.npz", derived=True)
    loaded = read_network_npz(path)
    assert "_stored_edge_index" in vars(loaded)
    lon, lat = _points(big_ebike, 3000, seed=11)
    with monkeypatch.context() as m:  # the loaded network's KD-trees must come from the file
        m.setattr(snapping._SampleTree, "__init__", lambda *a, **k: pytest.fail("rebuilt"))
        m.setattr(snapping.EdgeIndex, "__init__", lambda *a, **k: pytest.fail("rebuilt"))
        got = loaded.snap(lon, lat, max_meters=500.0)
    fresh = read_network_npz(save_network(big_ebike, tmp_path / "plain.npz"))
    assert "_stored_edge_index" not in vars(fresh)
    want = fresh.snap(lon, lat, max_meters=500.0)
    for name in ("edge", "fraction", "meters", "piece", "tail", "head", "length_m", "reverse_length_m"):
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name), err_msg=name)
    assert 1500 < got.snapped.sum() < got.edge.size  # far points too: unsnappable, metres still equal
    # the stored arrays are read-only views of the file, not copies
    index = loaded.edge_index
    assert not index.arc.flags.writeable and not index.arc.flags.owndata
    assert not loaded.indices.flags.writeable and loaded.indices.flags.aligned


def test_stored_snapping_index_of_another_scipy_is_rebuilt(
    big_ebike: Network, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = save_network(big_ebike, tmp_path / "net.npz", derived=True)
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(str(arrays["meta"]))
    meta["derived"]["snap"]["scipy"] = "0.0"
    arrays["meta"] = np.asarray(json.dumps(meta))
    other = tmp_path / "other.npz"
    np.savez(other, **arrays)  # np.savez: members not aligned, read into memory instead of mapped
    caplog.set_level("INFO")
    loaded = read_network_npz(other)
    assert "stored snapping index of another format or scipy" in caplog.text
    assert "_stored_edge_index" not in vars(loaded) and "reverse_arrays" in vars(loaded)
    lon, lat = _points(big_ebike, 500, seed=12)
    np.testing.assert_array_equal(loaded.snap(lon, lat).meters, big_ebike.snap(lon, lat).meters)


def test_with_speed_keeps_the_stored_structures(big_ebike: Network, tmp_path: Path) -> None:
    loaded = read_network_npz(save_network(big_ebike, tmp_path / "net.npz", derived=True))
    faster = loaded.with_speed(20.0)
    assert faster.speed_kph == 20.0 and faster.meters_per_minute > loaded.meters_per_minute
    assert faster.reverse_arrays is loaded.reverse_arrays
    assert "_stored_edge_index" in vars(faster)
    assert _contract.contracted_search(faster).n_junctions == _contract.contracted_search(loaded).n_junctions
    lon, lat = _points(big_ebike, 200, seed=13)
    np.testing.assert_array_equal(faster.snap(lon, lat).edge, loaded.snap(lon, lat).edge)
