"""Every area of an areas file in one run: ``yizhan network build-areas``.

One streaming pass over the OSM file serves all areas and modes
(:func:`geo.osm.reader.read_streets`). Per mode, each area's polygon is buffered by the mode's
halo (speed × minutes, metres, local projection); the street nodes are assigned to the buffered
polygons with one ``STRtree`` over them, queried with the boxes of a ~1 km grid of the nodes; an
area's network keeps the arcs whose two end nodes fall in its buffer, exactly as
:func:`geo.osm.build.network_from_osm` with ``area=`` does for one area. Networks are assembled
and written one area at a time, so beyond the file's street arrays memory grows with the largest
area.

Output (written to a temporary folder beside ``out``, then renamed over it)::

    out/<code>/<mode>.npz      # yizhan network files (geo.network.save_network)
    out/manifest.json          # {"areas": [{"code", "name", "mode", "nodes", "arcs", "halo_m",
                               #   "bbox", "file", "source", "source_sha256"}, ...]}

``code`` is text, ``arcs`` counts directed arcs, ``bbox`` is ``[lon0, lat0, lon1, lat1]`` of the
network's nodes (the area and its halo, WGS-84), ``file`` is relative to ``out``. A re-run keeps
the networks whose inputs (file hash, polygon, mode, speed, one-way rule, halo, format) have not
changed without reading the OSM file again when nothing has.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray

from geo.catalog import mode_codes, mode_speeds_kph, resolve_mode
from geo.errors import InputError, NotFoundError
from geo.network import FORMAT_VERSION, Network, network_options, save_network
from geo.osm.build import Arcs, check_area_in_bounds, mode_arcs, network_from_arcs
from geo.osm.halo import Area, area_metadata, buffer_meters, halo_meters, read_area_polygons
from geo.osm.reader import Streets, file_sha256, osm_format, read_streets
from geo.osm.rules import respects_oneway

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
#: grid cell (degrees) the street nodes are binned into for the STRtree query (~1 km)
CELL_DEGREES = 0.01


@dataclass(frozen=True)
class AreaNetwork:
    """One manifest entry: the network of one area and mode."""

    code: str
    name: str | None
    mode: str
    nodes: int
    arcs: int
    halo_m: float
    bbox: list[float]
    file: str
    source: str
    source_sha256: str


@dataclass(frozen=True)
class BuildAreasResult:
    """What :func:`build_areas` wrote and what it reused."""

    out: Path
    entries: tuple[AreaNetwork, ...]
    built: int
    reused: int
    #: wall seconds per stage: ``read`` (the pass over the file) and one per mode (areas assembled
    #: and written)
    seconds: dict[str, float]


@dataclass(frozen=True)
class _Job:
    area: Area
    mode: str
    speed_kph: float
    halo_m: float
    key: str

    @property
    def file(self) -> str:
        return f"{self.area.code}/{self.mode}.npz"


def build_areas(
    osm: str | Path,
    areas: str | Path,
    *,
    out: str | Path,
    code_field: str = "adcode",
    modes: Sequence[str] | None = None,
    halo_minutes: float = 60.0,
    oneway: bool | None = None,
    progress: bool = False,
    store_search: bool = False,
) -> BuildAreasResult:
    """Build one network per area and mode from one OSM file (see module doc).

    Parameters
    ----------
    osm : str or Path
        ``.osm.pbf`` (or ``.osm``/``.osm.bz2``/``.osm.gz``), WGS-84.
    areas : str or Path
        Polygons (GeoJSON/GPKG/SHP, any CRS → WGS-84) with a code column.
    out : str or Path
        Output folder (replaced as a whole on success; a folder that is not a previous output and
        not empty is refused).
    code_field : str
        Column of ``areas`` holding the codes.
    modes : sequence of str, optional
        Mode codes of ``data/modes.toml``; default every mode there.
    halo_minutes : float
        Travel-time halo around each area, at each mode's default speed.
    oneway : bool, optional
        Respect one-way streets (default no for walk, yes for ebike).
    progress : bool
        Progress bars (the pass over the file, the areas of each mode).
    store_search : bool
        Store each network's reverse CSR, contracted search graph and snapping index
        (:func:`geo.network.save_network` ``derived``); costs build time, saves it in every later
        coverage process.
    """
    osm, out = Path(osm), Path(out)
    modes = _checked_inputs(osm, out, modes, halo_minutes)
    polygons = read_area_polygons(areas, code_field=code_field)
    digest = file_sha256(osm)
    jobs = [_job(a, m, halo_minutes, oneway, digest, store_search) for m in modes for a in polygons]
    previous = _reusable(out, jobs)
    todo = [j for j in jobs if (j.area.code, j.mode) not in previous]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; the output is an ordinary folder
    try:
        built: dict[tuple[str | None, str], AreaNetwork] = {}
        seconds: dict[str, float] = {}
        if todo:
            built, seconds = _build_todo(osm, digest, polygons, modes, todo, tmp, oneway=oneway,
                                         halo_minutes=halo_minutes, store_search=store_search,
                                         progress=progress)  # fmt: skip
        entries = _finish(tmp, out, jobs, previous, built)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    log.info("build-areas: %d networks built, %d reused in %s", len(built), len(previous), out)
    return BuildAreasResult(out=out, entries=entries, built=len(built), reused=len(previous), seconds=seconds)


def _checked_inputs(osm: Path, out: Path, modes: Sequence[str] | None, halo_minutes: float) -> list[str]:
    """The modes resolved (default: every mode); errors for no mode, a bad halo, a missing or non-OSM
    file, a bad out."""
    resolved = [resolve_mode(m, field="modes") for m in (mode_codes() if modes is None else modes)]
    if not resolved:
        raise InputError("give at least one mode", field="modes")
    if not (np.isfinite(halo_minutes) and halo_minutes >= 0):
        raise InputError(f"halo_minutes must be ≥ 0, got {halo_minutes!r}", field="halo_minutes")
    if not osm.exists():
        raise NotFoundError(f"OSM file {str(osm)!r} does not exist", field="osm")
    if osm_format(osm) is None:
        raise InputError(
            f"{osm.name} is not an OSM file: use .osm.pbf, .osm, .osm.bz2 or .osm.gz", field="osm"
        )
    _check_out(out)
    return resolved


def _build_todo(
    osm: Path,
    digest: str,
    polygons: Sequence[Area],
    modes: Sequence[str],
    todo: Sequence[_Job],
    tmp: Path,
    *,
    oneway: bool | None,
    halo_minutes: float,
    store_search: bool,
    progress: bool,
) -> tuple[dict[tuple[str | None, str], AreaNetwork], dict[str, float]]:
    """One pass over the file for the streets, then every mode's networks written into ``tmp``;
    the networks built and the seconds of each step."""
    built: dict[tuple[str | None, str], AreaNetwork] = {}
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    streets = read_streets(osm, source_sha256=digest, progress=progress)
    seconds["read"] = round(time.perf_counter() - t0, 3)
    for area in polygons:
        check_area_in_bounds(area, streets)
    for mode in modes:
        mode_jobs = [j for j in todo if j.mode == mode]
        if mode_jobs:
            t0 = time.perf_counter()
            built.update(_build_mode(streets, mode_jobs, tmp, oneway=oneway, halo_minutes=halo_minutes,
                                     store_search=store_search, progress=progress))  # fmt: skip
            seconds[mode] = round(time.perf_counter() - t0, 3)
    return built, seconds


def _job(
    area: Area, mode: str, halo_minutes: float, oneway: bool | None, digest: str, store_search: bool
) -> _Job:
    speed = mode_speeds_kph()[mode]
    meters = halo_meters(speed, halo_minutes)
    wkb = shapely.to_wkb(area.geometry, output_dimension=2, hex=False)
    key = {
        "format": FORMAT_VERSION,
        "source_sha256": digest,
        "mode": mode,
        "speed_kph": speed,
        "oneway": respects_oneway(mode, oneway),
        "halo_minutes": float(halo_minutes),
        "polygon_sha256": hashlib.sha256(wkb).hexdigest(),
        "name": area.name,
        "store_search": store_search,
    }
    digest_key = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()
    return _Job(area=area, mode=mode, speed_kph=speed, halo_m=meters, key=digest_key)


def _check_out(out: Path) -> None:
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / MANIFEST).exists())):
        raise InputError(
            f"{out} exists and is not the output of an earlier build-areas run; give a new folder",
            field="out",
        )


def _reusable(out: Path, jobs: list[_Job]) -> dict[tuple[str | None, str], AreaNetwork]:
    """Entries of an earlier manifest whose network file was built from the same inputs."""
    path = out / MANIFEST
    if not path.exists():
        return {}
    try:
        old = {(e["code"], e["mode"]): AreaNetwork(**e) for e in json.loads(path.read_text())["areas"]}
    except (ValueError, KeyError, TypeError) as exc:
        log.warning("ignoring unreadable %s: %s", path, exc)
        return {}
    keep = {}
    for job in jobs:
        entry = old.get((job.area.code, job.mode))
        if entry is not None and _stored_key(out / entry.file) == job.key:
            keep[(job.area.code, job.mode)] = entry
    return keep


def _stored_key(path: Path) -> str | None:
    try:
        with np.load(path, allow_pickle=False) as z:
            return json.loads(str(z["meta"]))["options"].get("build_key")
    except (OSError, KeyError, ValueError):
        return None


def _build_mode(
    streets: Streets,
    jobs: list[_Job],
    tmp: Path,
    *,
    oneway: bool | None,
    halo_minutes: float,
    store_search: bool,
    progress: bool,
) -> dict[tuple[str | None, str], AreaNetwork]:
    """Networks of one mode for the given areas, each written into ``tmp`` as soon as it is built
    (one area's network in memory at a time): one STRtree assignment, then area by area."""
    from tqdm import tqdm

    mode = jobs[0].mode
    arcs = mode_arcs(streets, mode, oneway=oneway)
    buffers = [buffer_meters(j.area.geometry, j.halo_m) for j in jobs]
    members = _assign_nodes(streets, buffers)
    starts = np.searchsorted(arcs.tail, np.arange(streets.node_id.size + 1))  # arcs sorted by tail
    inside = np.zeros(streets.node_id.size, dtype=bool)
    done = {}
    for job, buffered, nodes in tqdm(list(zip(jobs, buffers, members, strict=True)),
                                     desc=f"{mode} areas", disable=not progress, leave=False):  # fmt: skip
        inside[nodes] = True
        keep = _arcs_within(arcs, starts, nodes, inside)
        inside[nodes] = False
        options = {
            **network_options(mode, arcs.respect_oneway, buffered),
            "area": area_metadata(job.area, halo_minutes=halo_minutes, halo_m=job.halo_m),
            "build_key": job.key,
        }
        if keep.size == 0:
            raise InputError(f"area {job.area.label} has no {mode} street within its halo", field="areas")
        net = network_from_arcs(streets, arcs, mode=mode, speed_kph=job.speed_kph, keep=keep, options=options)
        save_network(net, tmp / job.file, derived=store_search)
        done[(job.area.code, mode)] = _entry(job, net, streets)
        del net
    return done


def _assign_nodes(streets: Streets, buffers: list[Any]) -> list[NDArray[np.int64]]:
    """Node positions inside (or on) each buffered polygon.

    The nodes are binned into grid cells of :data:`CELL_DEGREES`; one ``STRtree`` over the buffered
    polygons is queried with the occupied cells' boxes: a cell within a polygon gives it all its
    nodes, a cell that only meets it has its nodes tested one by one (prepared, vectorised).
    """
    cx = np.floor(streets.lon / CELL_DEGREES).astype(np.int64)
    cy = np.floor(streets.lat / CELL_DEGREES).astype(np.int64)
    key = (cx - cx.min()) * (int(cy.max() - cy.min()) + 1) + (cy - cy.min())
    order = np.argsort(key, kind="stable")
    _, starts = np.unique(key[order], return_index=True)
    ends = np.append(starts[1:], key.size)
    first = order[starts]
    boxes = shapely.box(cx[first] * CELL_DEGREES, cy[first] * CELL_DEGREES,
                        (cx[first] + 1) * CELL_DEGREES, (cy[first] + 1) * CELL_DEGREES)  # fmt: skip
    tree = shapely.STRtree(buffers)
    cell_idx, poly_idx = tree.query(boxes)  # bounding boxes meet
    within = np.zeros(cell_idx.size, dtype=bool)
    w_cell, w_poly = tree.query(boxes, predicate="within")  # cell inside the polygon: no test
    pair_key = cell_idx * len(buffers) + poly_idx
    within[np.isin(pair_key, w_cell * len(buffers) + w_poly)] = True
    by_poly = np.argsort(poly_idx, kind="stable")
    bounds = np.searchsorted(poly_idx[by_poly], np.arange(len(buffers) + 1))
    found = []
    for k, poly in enumerate(buffers):
        sel = by_poly[bounds[k] : bounds[k + 1]]
        whole = _gather(order, starts, ends, cell_idx[sel[within[sel]]])
        edge = _gather(order, starts, ends, cell_idx[sel[~within[sel]]])
        hit = edge[shapely.intersects_xy(poly, streets.lon[edge], streets.lat[edge])] if edge.size else edge
        found.append(np.sort(np.concatenate([whole, hit])).astype(np.int64))
    return found


def _gather(
    order: NDArray[np.intp], starts: NDArray[np.intp], ends: NDArray[np.intp], cells: NDArray[np.intp]
) -> NDArray[np.intp]:
    """Node positions of the given cells (``order[starts[c]:ends[c]]`` for each cell ``c``)."""
    counts = ends[cells] - starts[cells]
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.intp)
    pos = np.repeat(starts[cells] - np.cumsum(counts) + counts, counts) + np.arange(total)
    return order[pos]


def _arcs_within(
    arcs: Arcs, starts: NDArray[np.intp], nodes: NDArray[np.int64], inside: NDArray[np.bool_]
) -> NDArray[np.intp]:
    """Positions (ascending) of the arcs whose tail is one of ``nodes`` (sorted) and whose head is
    ``inside``; ``starts`` is the CSR row pointer of the tail-sorted arcs."""
    lo, hi = starts[nodes], starts[nodes + 1]
    counts = hi - lo
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.intp)
    pos = np.repeat(lo - np.cumsum(counts) + counts, counts) + np.arange(total)
    return pos[inside[arcs.head[pos]]]


def _entry(job: _Job, net: Network, streets: Streets) -> AreaNetwork:
    assert job.area.code is not None
    return AreaNetwork(
        code=job.area.code,
        name=job.area.name,
        mode=job.mode,
        nodes=net.n_nodes,
        arcs=net.n_arcs,
        halo_m=round(job.halo_m, 3),
        bbox=[float(net.lon.min()), float(net.lat.min()), float(net.lon.max()), float(net.lat.max())],
        file=job.file,
        source=str(Path(streets.source).resolve()),
        source_sha256=streets.source_sha256,
    )


def _finish(
    tmp: Path,
    out: Path,
    jobs: list[_Job],
    previous: dict[tuple[str | None, str], AreaNetwork],
    built: dict[tuple[str | None, str], AreaNetwork],
) -> tuple[AreaNetwork, ...]:
    """Link the reused networks into ``tmp``, write the manifest there and swap it in for ``out``."""
    entries = []
    for job in jobs:
        k = (job.area.code, job.mode)
        if k in built:
            entries.append(built[k])
            continue
        entry = previous[k]
        target = tmp / job.file
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(out / entry.file, target)
        except OSError:
            shutil.copy2(out / entry.file, target)
        entries.append(entry)
    body = json.dumps({"areas": [asdict(e) for e in entries]}, ensure_ascii=False, indent=1)
    (tmp / MANIFEST).write_text(body + "\n", encoding="utf-8")
    _swap(tmp, out)
    return tuple(entries)


def _swap(tmp: Path, out: Path) -> None:
    if not out.exists():
        tmp.rename(out)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
    old.rmdir()
    out.rename(old)
    tmp.rename(out)
    shutil.rmtree(old, ignore_errors=True)
