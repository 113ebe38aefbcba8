"""The network cache stores the reverse CSR and the contracted junction graph of the coverage
search, checked against the network's checksum, so a later process skips building them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from geo import _contract
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
