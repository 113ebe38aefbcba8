"""Incremental what-if re-evaluation equals a fresh full pass exactly, for every action kind, on real
networks of three shared cities (Shanghai walk, Changsha walk, Xi'an one-way e-bike); distances also
agree with scipy's independent Dijkstra."""

from __future__ import annotations

import numpy as np
import pytest

from geo._graph import multi_source_offsets
from geo.errors import InputError, NotFoundError
from geo.network import Network
from geo.scenario import IncrementalLabels, StationSources


def _engine(network: Network, minutes: float) -> IncrementalLabels:
    limit = minutes * network.meters_per_minute
    return IncrementalLabels(network.offset_search, network.indptr, network.indices, limit_m=limit)


def _random_sources(network: Network, rng: np.random.Generator) -> StationSources:
    """One or two attachment nodes (edge snapping attaches to both ends of an edge) with offsets."""
    k = int(rng.integers(1, 3))
    nodes = rng.choice(network.n_nodes, size=k, replace=False).astype(np.int64)
    return StationSources(nodes, rng.uniform(0, 120, size=k).round(3))


def _fresh(network: Network, stations: dict[int, StationSources], limit_m: float
           ) -> tuple[np.ndarray, np.ndarray]:
    """Reference: the pass's own compiled search from scratch (sources in station order → owner by
    station), independent of the incremental bookkeeping."""
    numbers = sorted(stations)
    nodes = np.concatenate([stations[k].nodes for k in numbers])
    offsets = np.concatenate([stations[k].offsets_m for k in numbers])
    station_of = np.concatenate([np.full(stations[k].nodes.size, k) for k in numbers])
    dist, src = network.offset_search.run(nodes, offsets, limit_m=limit_m)
    owner = np.where(src >= 0, station_of[np.maximum(src, 0)], -1)
    return dist, owner


def _check(engine: IncrementalLabels, network: Network, before: tuple[np.ndarray, np.ndarray] | None = None,
           change: object = None) -> None:
    dist, owner = _fresh(network, engine.stations, engine.limit_m)
    np.testing.assert_array_equal(engine.dist, dist)
    np.testing.assert_array_equal(engine.owner, owner)
    if before is not None:  # the reported nodes are exactly those whose label changed
        changed = np.flatnonzero((before[0] != dist) | (before[1] != owner))
        np.testing.assert_array_equal(np.sort(change.nodes), changed)  # type: ignore[attr-defined]


@pytest.mark.parametrize("city", ["shanghai_walk", "changsha_walk", "xian_ebike"])
def test_every_action_kind_equals_a_fresh_pass(city: str, request: pytest.FixtureRequest) -> None:
    network: Network = request.getfixturevalue(city)
    rng = np.random.default_rng(7)
    engine = _engine(network, minutes=10 if network.mode == "walk" else 5)
    stations = {k: _random_sources(network, rng) for k in range(12)}
    engine.evaluate(stations)
    _check(engine, network)
    for step in range(30):
        action = ["add", "close", "relocate"][step % 3]
        before = (engine.dist.copy(), engine.owner.copy())
        if action == "add":
            change = engine.add(100 + step, _random_sources(network, rng))
        elif action == "close":
            change = engine.close(int(rng.choice(sorted(engine.stations))))
        else:
            change = engine.relocate(int(rng.choice(sorted(engine.stations))), _random_sources(network, rng))
        _check(engine, network, before, change)


def test_closing_a_station_that_held_another_stations_source(changsha_walk: Network) -> None:
    """A station whose own node was won by a neighbour comes back when the neighbour closes."""
    net = changsha_walk
    node = int(np.flatnonzero(np.diff(net.indptr) > 1)[0])
    engine = _engine(net, minutes=10)
    engine.evaluate({0: StationSources(np.array([node]), np.array([0.0])),
                     1: StationSources(np.array([node]), np.array([40.0]))})
    assert not (engine.owner == 1).any()  # station 1 is shadowed everywhere
    engine.close(0)
    _check(engine, net)
    assert engine.owner[node] == 1 and engine.dist[node] == 40.0


def test_ties_go_to_the_lower_number_as_in_the_full_pass(shanghai_walk: Network) -> None:
    net = shanghai_walk
    node = int(np.flatnonzero(net.component == 0)[0])
    engine = _engine(net, minutes=10)
    engine.evaluate({5: StationSources(np.array([node]), np.array([0.0]))})
    engine.add(3, StationSources(np.array([node]), np.array([0.0])))  # same place, lower number
    _check(engine, net)
    assert (engine.owner[np.isfinite(engine.dist)] == 3).all()
    engine.add(9, StationSources(np.array([node]), np.array([0.0])))  # higher number: changes nothing
    assert (engine.owner[np.isfinite(engine.dist)] == 3).all()


def test_distances_agree_with_scipy(xian_ebike: Network) -> None:
    net = xian_ebike
    rng = np.random.default_rng(3)
    engine = _engine(net, minutes=5)
    engine.evaluate({k: _random_sources(net, rng) for k in range(8)})
    engine.close(2)
    engine.add(50, _random_sources(net, rng))
    numbers = sorted(engine.stations)
    nodes = np.concatenate([engine.stations[k].nodes for k in numbers])
    offsets = np.concatenate([engine.stations[k].offsets_m for k in numbers])
    dist, _ = multi_source_offsets(*net.reverse_arrays, nodes, offsets, limit_m=engine.limit_m)
    np.testing.assert_allclose(engine.dist, dist, rtol=0, atol=1e-6)


def test_an_added_station_touches_only_its_catchment(shanghai_walk: Network) -> None:
    net = shanghai_walk
    rng = np.random.default_rng(11)
    engine = _engine(net, minutes=10)
    engine.evaluate({k: _random_sources(net, rng) for k in range(20)})
    change = engine.add(99, _random_sources(net, rng))
    assert change.nodes.size == int((engine.owner == 99).sum())
    assert change.processed < net.n_nodes


def test_bad_actions_are_named(changsha_walk: Network) -> None:
    engine = _engine(changsha_walk, minutes=5)
    engine.evaluate({0: StationSources(np.array([0]), np.array([0.0]))})
    with pytest.raises(NotFoundError, match="station 7 is not open"):
        engine.close(7)
    with pytest.raises(InputError, match="station 0 is already open"):
        engine.add(0, StationSources(np.array([1]), np.array([0.0])))
