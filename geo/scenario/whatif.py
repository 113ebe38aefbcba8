"""What-if in milliseconds: keep the per-node labels of the last evaluation and update only what one
action can reach.

The coverage pass labels every node v of the (reversed) network with

    dist[v]  = min over open stations s, over the sources (x, o) of s:  o + d(x → v)     metres
    owner[v] = the lowest station number attaining it                                   (-1: none)

up to the horizon ``limit_m``. A station's *sources* are the network nodes it attaches to with the
straight-line (and partial-edge) offsets in metres, as the pass builds them; this module takes them as
arrays, so it follows whatever attachment rule the pass uses.

- **Add** station t: a search from t's sources that only improves labels (a node is touched only where
  t is strictly nearer, or as near with a lower number). Cost: t's own catchment, not the network.
- **Close** station s: the region R = {v : owner[v] = s} is reset, then re-labelled by the same search
  seeded at R's boundary (every node outside R with an arc into R, at its own label and owner) and at
  the sources of other stations lying inside R. For v ∈ R the new label is a shortest path from some
  other station; its last node outside R is such a seed, so the re-labelling is exact.
- **Relocate** = close + add under the same station number; **change hours or amenities** turns a
  station off or on for an evaluation filter = close or add.

Labels equal a full pass with the same stations and numbers, bit for bit: the seeds carry the full
pass's own float labels, and every label is extended by the same additions along the same paths. Ties
go to the lower station number as in the full pass (``tests/geo/test_whatif.py`` checks every action
kind against a fresh pass).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from geo._graph import OffsetSearch
from geo.errors import InputError, NotFoundError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StationSources:
    """The network nodes one station attaches to and the offsets in metres (same length)."""

    nodes: NDArray[np.int64]
    offsets_m: NDArray[np.float64]

    def __post_init__(self) -> None:
        if self.nodes.shape != self.offsets_m.shape:
            raise InputError("station sources need one offset per node", field="sources")


@dataclass(frozen=True)
class Change:
    """What one action changed: the nodes whose label changed and the labels processed."""

    nodes: NDArray[np.int64]
    processed: int


class IncrementalLabels:
    """Per-node labels of one evaluation, updated in place by :meth:`add` and :meth:`close`.

    Parameters
    ----------
    search : OffsetSearch
        The pass's search on the reversed network (``Network.offset_search``).
    in_indptr, in_indices : ndarray
        For each node v of the searched graph, the nodes with an arc into v (for the reversed network,
        the forward network's own CSR: ``Network.indptr``/``Network.indices``).
    limit_m : float
        The horizon in metres (labels beyond it are inf).
    """

    def __init__(self, search: OffsetSearch, in_indptr: NDArray[np.int32], in_indices: NDArray[np.int32],
                 *, limit_m: float) -> None:
        if in_indptr.size != search.n + 1:
            raise InputError("the in-arc CSR has another node count than the search", field="in_indptr")
        self.search = search
        self.in_indptr = in_indptr
        self.in_indices = in_indices
        self.limit_m = float(limit_m)
        self.dist = np.full(search.n, np.inf)
        self.owner = np.full(search.n, -1, dtype=np.int64)
        self.stations: dict[int, StationSources] = {}
        self._scratch = np.zeros(search.n, dtype=bool)

    # ----------------------------------------------------------------- evaluation
    def evaluate(self, stations: dict[int, StationSources]) -> int:
        """Label every node from scratch for ``stations`` (number → sources); returns labels processed."""
        self.dist.fill(np.inf)
        self.owner.fill(-1)
        self.stations = dict(stations)
        nodes, offsets, owners = self._seeds(self.stations)
        return self.search.improve(nodes, offsets, owners, self.dist, self.owner, limit_m=self.limit_m)

    def add(self, number: int, sources: StationSources) -> Change:
        """Open station ``number`` at ``sources``: only the labels it improves change."""
        if number in self.stations:
            raise InputError(f"station {number} is already open in this evaluation", field="station")
        self.stations[number] = sources
        owners = np.full(sources.nodes.size, number, dtype=np.int64)
        done = self.search.improve(sources.nodes, sources.offsets_m, owners, self.dist, self.owner,
                                   limit_m=self.limit_m)
        # labels only improve, and every improved node now belongs to the new station
        return Change(np.flatnonzero(self.owner == number).astype(np.int64), done)

    def close(self, number: int) -> Change:
        """Close station ``number``: re-label the nodes it served from the boundary of their region."""
        if number not in self.stations:
            raise NotFoundError(f"station {number} is not open in this evaluation", field="station")
        del self.stations[number]
        region = np.flatnonzero(self.owner == number).astype(np.int64)
        self.dist[region] = np.inf
        self.owner[region] = -1
        nodes, offsets, owners = self._region_seeds(region)
        done = self.search.improve(nodes, offsets, owners, self.dist, self.owner, limit_m=self.limit_m)
        # only the closed station's region changes (every node there loses its owner)
        return Change(region, done)

    def relocate(self, number: int, sources: StationSources) -> Change:
        """Move station ``number`` to ``sources`` (close, then add under the same number)."""
        first = self.close(number)
        second = self.add(number, sources)
        nodes = np.union1d(first.nodes, second.nodes)
        return Change(nodes, first.processed + second.processed)

    # ----------------------------------------------------------------- helpers
    def _seeds(self, stations: dict[int, StationSources]) -> tuple[NDArray[np.int64], NDArray[np.float64],
                                                                    NDArray[np.int64]]:
        if not stations:
            return np.empty(0, np.int64), np.empty(0), np.empty(0, np.int64)
        numbers = sorted(stations)
        nodes = np.concatenate([stations[k].nodes for k in numbers]).astype(np.int64)
        offsets = np.concatenate([stations[k].offsets_m for k in numbers]).astype(np.float64)
        owners = np.concatenate([np.full(stations[k].nodes.size, k, np.int64) for k in numbers])
        return nodes, offsets, owners

    def _region_seeds(self, region: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.float64],
                                                               NDArray[np.int64]]:
        """Boundary nodes of ``region`` at their labels, and other stations' sources inside it."""
        in_region = self._scratch
        in_region[region] = True
        starts, ends = self.in_indptr[region], self.in_indptr[region + 1]
        counts = (ends - starts).astype(np.int64)
        idx = np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(int(counts.sum()))
        tails = np.unique(self.in_indices[idx]) if idx.size else np.empty(0, np.int64)
        boundary = tails[~in_region[tails] & np.isfinite(self.dist[tails])].astype(np.int64)
        nodes, offsets, owners = self._seeds(self.stations)
        inside = in_region[nodes] if nodes.size else np.zeros(0, dtype=bool)
        in_region[region] = False  # the scratch array is all False between calls
        return (np.concatenate([boundary, nodes[inside]]),
                np.concatenate([self.dist[boundary], offsets[inside]]),
                np.concatenate([self.owner[boundary], owners[inside]]))
