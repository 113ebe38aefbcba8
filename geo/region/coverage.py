"""Coverage of a whole region, one Dask task per area network, identical to one pass.

Outline (:func:`region_coverage`)::

    manifest ─ check every entry, file, polygon and halo (before any task)
    demand   ─ each point to exactly one area (first polygon containing it, manifest order);
               points in no area are listed, never dropped
    stations ─ an area's task gets every station within its network's bbox grown by the snap limit
               (the stations of the area AND of its halo)
    tasks    ─ one per area with demand: today's compute_coverage on the area's network
               (geo.coverage), keeping only the area's own points; areas whose inputs have the same
               content hash as in the previous result are not recomputed
    merge    ─ points, per-area table, rollups per province / prefecture / county

Why it is exact: a point P of area A reaching station S within the horizon H does so along a path
every node of which lies within ``speed × H`` great-circle metres of P (straight-line offsets
included), so inside A's polygon grown by the halo, and S's street node is within ``speed × H``
of P and S within the snap limit of it; with ``halo ≥ speed × H + snap`` every arc of that path,
S's node and S are in A's task, so the area pass finds the same minimum as a pass over the merged
network. A station whose node lies outside the halo is more than ``speed × H`` from every point of
A, so it cannot change a result within the horizon. Minutes agree to floating-point rounding (the
merged pass may add a path's arc lengths in another order on the contracted junction graph).

All coordinates are WGS-84 (EPSG:4326). Tasks run on Dask distributed: a ``LocalCluster`` of
worker processes (``"local"`` / ``"local:N"``) or an existing scheduler (``"tcp://HOST:PORT"``);
the networks folder must be readable at the same path on every worker.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray

from geo.areas import area_index
from geo.coverage import compute_coverage, select_stations, weighted_quantile
from geo.errors import InputError
from geo.network import read_network_npz
from geo.region.clip import union_networks
from geo.region.manifest import (
    AreaEntry,
    check_halo,
    file_sha256,
    network_meta,
    polygon_of,
    read_manifest,
    speed_of,
)

log = logging.getLogger(__name__)

WGS84 = "EPSG:4326"
DEFAULT_HORIZON_MINUTES = 60.0
POINT_COLUMNS: tuple[str, ...] = ("id", "area_code", "minutes", "station_id", "weight")
AREA_COLUMNS: tuple[str, ...] = (
    "area_code",
    "name",
    "prefecture_code",
    "province_code",
    "demand",
    "covered",
    "covered_share",
    "p95_minutes",
)
ROLLUP_LEVELS: tuple[str, ...] = ("province", "prefecture", "county")
#: bump when a task's output changes meaning (part of every content hash: old parts are not reused)
PARTS_VERSION = 1

__all__ = [
    "AREA_COLUMNS",
    "POINT_COLUMNS",
    "ROLLUP_LEVELS",
    "RegionResult",
    "dask_client",
    "region_coverage",
    "run_area",
]


@dataclass(frozen=True, eq=False)
class RegionResult:
    """What one region run produced.

    Attributes
    ----------
    points : DataFrame
        One row per demand point, input order: :data:`POINT_COLUMNS` (``area_code`` None outside
        every area; ``minutes`` NaN beyond the horizon or unsnappable; ``station_id`` None then).
    areas : GeoDataFrame
        One row per area of the manifest (EPSG:4326 polygons): :data:`AREA_COLUMNS`.
    summary : dict
        JSON-ready totals, ``outside_areas``, ``rollups`` per level and the run's task counts.
    parts : dict
        Area code → (content hash, the task's output frame), kept for the next run.
    """

    points: pd.DataFrame
    areas: gpd.GeoDataFrame
    summary: dict[str, Any]
    parts: dict[str, tuple[str, pd.DataFrame]] = field(repr=False)


# ------------------------------------------------------------------------------------------ the task
def run_area(
    path: str | list[str],
    stations: pd.DataFrame,
    demand: pd.DataFrame,
    *,
    minutes: float,
    horizon_minutes: float,
    snap_meters: float,
) -> pd.DataFrame:
    """One area's coverage (a Dask task): ``compute_coverage`` on the area's network file.

    Parameters
    ----------
    path : str or list of str
        The area's ``.npz`` network, or those of neighbouring areas run as one task (their union).
    stations : DataFrame
        ``station_id``, ``lon``, ``lat`` (WGS-84) of the stations of the area and its halo, in the
        region's station order (exact ties go to the lower position, as in one pass).
    demand : DataFrame
        ``pos`` (row in the region's demand), ``lon``, ``lat``, ``weight`` of the area's points.

    Returns
    -------
    DataFrame
        ``pos``, ``minutes`` (NaN beyond the horizon / unsnappable), ``station_id`` (str or None),
        ``snapped``.
    """
    paths = [path] if isinstance(path, str) else list(path)
    net = union_networks([read_network_npz(p) for p in paths])
    st = gpd.GeoDataFrame(
        {"station_id": stations["station_id"].to_numpy()},
        geometry=gpd.points_from_xy(stations["lon"], stations["lat"]),
        crs=WGS84,
    )
    dm = gpd.GeoDataFrame(
        {"weight": demand["weight"].to_numpy()},
        geometry=gpd.points_from_xy(demand["lon"], demand["lat"]),
        crs=WGS84,
    )
    res = compute_coverage(
        net,
        st,
        dm,
        minutes=minutes,
        horizon_minutes=horizon_minutes,
        open_only=False,
        snap_meters=snap_meters,
    )
    return pd.DataFrame(
        {
            "pos": demand["pos"].to_numpy(dtype=np.int64),
            "minutes": res.demand["minutes"].to_numpy(dtype=np.float64),
            "station_id": res.demand["nearest_station"].to_numpy(dtype=object),
            "snapped": res.demand["snapped"].to_numpy(dtype=bool),
        }
    )


# ------------------------------------------------------------------------------------------ scheduler
@contextmanager
def dask_client(scheduler: Any = "local") -> Iterator[Any]:
    """A ``distributed.Client``: ``"local"`` (a LocalCluster of one single-threaded worker process
    per core), ``"local:N"`` (N worker processes), an address ``"tcp://HOST:PORT"`` of a running
    scheduler, or a Client passed in (used as it is, not closed)."""
    from distributed import Client, LocalCluster

    if isinstance(scheduler, Client):
        yield scheduler
        return
    spec = str(scheduler).strip()
    if "://" in spec:
        try:
            client = Client(spec, timeout="20s")
        except (OSError, TimeoutError) as exc:
            raise InputError(f"cannot reach the Dask scheduler at {spec}: {exc}", field="scheduler") from None
        with client:
            yield client
        return
    name, _, count = spec.partition(":")
    if name != "local" or (count and not count.isdigit()) or count == "0":
        raise InputError(
            f"scheduler must be local, local:N or tcp://HOST:PORT, got {spec!r}", field="scheduler"
        )
    workers = int(count) if count else max(1, os.cpu_count() or 1)
    dashboard = ":0" if _has_bokeh() else None
    with (
        LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=dashboard,
            host="127.0.0.1",
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def _has_bokeh() -> bool:
    try:
        import bokeh  # noqa: F401
    except ImportError:
        return False
    return True


# ------------------------------------------------------------------------------------------ inputs
@dataclass(frozen=True)
class _Plan:
    entries: tuple[AreaEntry, ...]
    polygons: tuple[Any, ...]
    horizon_minutes: float


def _plan(
    networks: str | Path,
    *,
    mode: str,
    horizon_minutes: float | None,
    snap_meters: float,
    areas: gpd.GeoDataFrame | None,
) -> _Plan:
    """Read and check the manifest, the polygons and the halo before any task starts."""
    entries = read_manifest(networks).for_mode(mode)
    if not entries:
        raise InputError(f"the manifest of {networks} has no {mode} networks", field="mode")
    metas = [network_meta(e.path) for e in entries]
    speeds = [speed_of(e, m) for e, m in zip(entries, metas, strict=True)]
    if areas is not None:
        by_code = dict(zip(areas["area_code"].astype(str), areas.geometry.values, strict=True))
        polys = [by_code.get(e.code) for e in entries]
    else:
        polys = [polygon_of(m) for m in metas]
    missing = [e.code for e, p in zip(entries, polys, strict=True) if p is None or p.is_empty]
    if missing:
        raise InputError(
            f"no polygon for {len(missing)} area(s) (first: {missing[0]}): the network files record none; "
            "give the area boundaries (--areas)",
            field="areas",
        )
    if horizon_minutes is None:
        allowed = min(
            (e.halo_m - snap_meters) / (s * 1000.0 / 60.0) for e, s in zip(entries, speeds, strict=True)
        )
        horizon_minutes = min(DEFAULT_HORIZON_MINUTES, math.floor(allowed * 100) / 100)
        log.info("horizon %.2f min (the largest the networks' halo allows, at most 60)", horizon_minutes)
    check_halo(entries, speeds, horizon_minutes=horizon_minutes, snap_meters=snap_meters)
    return _Plan(entries=entries, polygons=tuple(polys), horizon_minutes=float(horizon_minutes))


def _ids(frame: pd.DataFrame, candidates: tuple[str, ...]) -> NDArray[np.object_]:
    for c in candidates:
        if c in frame.columns:
            return np.asarray([None if v is None or v is pd.NA else str(v) for v in frame[c]], dtype=object)
    return np.asarray([str(v) for v in frame.index], dtype=object)


def _points(frame: gpd.GeoDataFrame, *, what: str) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    g = frame.to_crs(WGS84).geometry.values if frame.crs is not None else frame.geometry.values
    if len(g) and not bool(np.all(shapely.get_type_id(g) == 0)):
        raise InputError(f"{what} geometry must be points", field=what)
    return shapely.get_x(g).astype(np.float64), shapely.get_y(g).astype(np.float64)


def _station_masks(
    entries: tuple[AreaEntry, ...], sx: NDArray[np.float64], sy: NDArray[np.float64], snap_meters: float
) -> list[NDArray[np.bool_]]:
    """Stations of each area's task: inside the network's bbox grown by the snap limit."""
    out = []
    for e in entries:
        x0, y0, x1, y1 = e.bbox
        dy = snap_meters / 111_000.0 * 1.01
        dx = dy / max(0.01, math.cos(math.radians(max(abs(y0), abs(y1)))))
        out.append((sx >= x0 - dx) & (sx <= x1 + dx) & (sy >= y0 - dy) & (sy <= y1 + dy))
    return out


def _content_key(
    entry_hash: str, stations: pd.DataFrame, demand: pd.DataFrame, params: dict[str, Any]
) -> str:
    h = hashlib.sha256(f"region-parts-v{PARTS_VERSION}:{entry_hash}".encode())
    for frame in (stations, demand):
        buf = io.BytesIO()
        frame.to_csv(buf, index=False, float_format="%.17g")
        h.update(buf.getvalue())
    h.update(json.dumps(params, sort_keys=True).encode())
    return h.hexdigest()


def _previous_part(previous: Path | None, code: str, key: str) -> pd.DataFrame | None:
    if previous is None:
        return None
    path = previous / "parts" / f"{code}-{key[:20]}.parquet"
    if not path.is_file():
        return None
    try:
        return pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable previous part %s: %s", path, exc)
        return None


# ------------------------------------------------------------------------------------------ the run
def region_coverage(
    networks: str | Path,
    stations: gpd.GeoDataFrame,
    demand: gpd.GeoDataFrame,
    *,
    mode: str = "walk",
    minutes: float = 15.0,
    horizon_minutes: float | None = None,
    snap_meters: float = 300.0,
    areas: gpd.GeoDataFrame | None = None,
    open_only: bool = True,
    scheduler: Any = "local",
    previous: str | Path | None = None,
    progress: bool = False,
    task_arcs: int = 0,
) -> RegionResult:
    """Coverage of every demand point of a region by its nearest station, one Dask task per area.

    Parameters
    ----------
    networks : str or Path
        A networks folder (``manifest.json`` + ``<code>/<mode>.npz``, issue #16 format).
    stations : GeoDataFrame
        Canonical stations (EPSG:4326), filtered by ``status == "open"`` unless ``open_only=False``;
        ids from ``station_id``.
    demand : GeoDataFrame
        Demand points (EPSG:4326); ids from ``id`` (else ``demand_id``), weights from ``weight``.
    mode : str
        The manifest's networks of this mode are used.
    minutes : float
        Coverage threshold.
    horizon_minutes : float, optional
        Search limit; default the largest the halo allows (``(halo − snap) / speed``), at most 60.
        A halo smaller than ``speed × horizon + snap_meters`` is an error.
    snap_meters : float
        Snap limit of points and stations.
    areas : GeoDataFrame, optional
        ``area_code`` polygons (EPSG:4326) instead of those recorded in the network files.
    scheduler : str or distributed.Client
        ``"local"``, ``"local:N"``, ``"tcp://HOST:PORT"`` or a Client.
    previous : path, optional
        A previous result folder: areas whose inputs hash the same are taken from it.
    progress : bool
        Show Dask's progress bar on the terminal.
    task_arcs : int
        0 (default): one task per area. Otherwise neighbouring areas (in Z-order of their bbox
        centres) are run as one task on the union of their networks, up to about this many arcs per
        task: fewer tasks and less halo counted twice; a rerun then recomputes a changed area's group.

    Returns
    -------
    RegionResult
    """
    if not (math.isfinite(minutes) and minutes > 0):
        raise InputError(f"minutes must be a positive number, got {minutes!r}", field="minutes")
    if horizon_minutes is not None and not (math.isfinite(horizon_minutes) and horizon_minutes >= minutes):
        raise InputError(
            f"horizon_minutes must be ≥ minutes ({minutes:g}), got {horizon_minutes!r}",
            field="horizon_minutes",
        )
    if not (math.isfinite(snap_meters) and snap_meters >= 0):
        raise InputError(f"snap_meters must be ≥ 0, got {snap_meters!r}", field="snap_meters")
    plan = _plan(networks, mode=mode, horizon_minutes=horizon_minutes, snap_meters=snap_meters, areas=areas)
    if plan.horizon_minutes < minutes:
        raise InputError(
            f"the networks' halo allows a horizon of {plan.horizon_minutes:g} min only, below "
            f"--minutes {minutes:g}",
            field="horizon_minutes",
        )
    sel = select_stations(stations, open_only=open_only)
    sx, sy = _points(sel, what="stations")
    st_all = pd.DataFrame({"station_id": _ids(sel, ("station_id",)), "lon": sx, "lat": sy})
    dx, dy = _points(demand, what="demand")
    weight = (
        pd.to_numeric(demand["weight"], errors="coerce").to_numpy(dtype=np.float64)
        if "weight" in demand.columns
        else np.ones(len(demand))
    )
    if len(weight) and not bool(np.all(np.isfinite(weight) & (weight >= 0))):
        raise InputError("demand weights must be finite numbers ≥ 0", field="demand")
    poly_frame = gpd.GeoDataFrame(
        {"area_code": [e.code for e in plan.entries]}, geometry=list(plan.polygons), crs=WGS84
    )
    point_area = area_index(dx, dy, poly_frame)
    station_area = area_index(sx, sy, poly_frame)
    dm_all = pd.DataFrame({"pos": np.arange(len(dx), dtype=np.int64), "lon": dx, "lat": dy, "weight": weight})
    params = {"minutes": minutes, "horizon_minutes": plan.horizon_minutes, "snap_meters": snap_meters}
    if task_arcs < 0:
        raise InputError(f"task_arcs must be ≥ 0, got {task_arcs}", field="task_arcs")
    parts = _run_tasks(
        plan,
        st_all,
        dm_all,
        point_area,
        _station_masks(plan.entries, sx, sy, snap_meters),
        params=params,
        scheduler=scheduler,
        previous=Path(previous) if previous else None,
        progress=progress,
        task_arcs=task_arcs,
    )
    ids = _ids(demand, ("id", "demand_id"))
    return _merge(plan, parts, ids, weight, point_area, st_all, station_area, mode=mode, params=params)


def _z_order(entries: tuple[AreaEntry, ...], idx: list[int]) -> list[int]:
    """``idx`` sorted along a Z-order curve of the areas' bbox centres (neighbours stay close)."""
    cx = np.asarray([(entries[i].bbox[0] + entries[i].bbox[2]) / 2 for i in idx])
    cy = np.asarray([(entries[i].bbox[1] + entries[i].bbox[3]) / 2 for i in idx])

    def cells(v: NDArray[np.float64]) -> NDArray[np.int64]:
        span = float(v.max() - v.min()) or 1.0
        return np.minimum(((v - v.min()) / span * 65535).astype(np.int64), 65535)

    gx, gy = cells(cx), cells(cy)
    code = np.zeros(len(idx), dtype=np.int64)
    for bit in range(16):
        code |= ((gx >> bit) & 1) << (2 * bit) | ((gy >> bit) & 1) << (2 * bit + 1)
    return [idx[k] for k in np.argsort(code, kind="stable")]


def _groups(entries: tuple[AreaEntry, ...], with_demand: list[int], task_arcs: int) -> list[list[int]]:
    """One group per area (``task_arcs`` 0), else neighbours together up to about ``task_arcs`` arcs."""
    if task_arcs <= 0 or len(with_demand) < 2:
        return [[i] for i in with_demand]
    groups: list[list[int]] = [[]]
    arcs = 0
    for i in _z_order(entries, with_demand):
        if groups[-1] and arcs + entries[i].arcs > task_arcs:
            groups.append([])
            arcs = 0
        groups[-1].append(i)
        arcs += entries[i].arcs
    return groups


def _run_tasks(
    plan: _Plan,
    st_all: pd.DataFrame,
    dm_all: pd.DataFrame,
    point_area: NDArray[np.int64],
    station_masks: list[NDArray[np.bool_]],
    *,
    params: dict[str, Any],
    scheduler: Any,
    previous: Path | None,
    progress: bool,
    task_arcs: int = 0,
) -> dict[str, tuple[str, pd.DataFrame, bool]]:
    """Reuse or compute every group of areas with demand; returns the group's first code → (key,
    part, reused)."""
    with_demand = [i for i in range(len(plan.entries)) if bool(np.any(point_area == i))]
    todo: list[tuple[str, list[str], str, pd.DataFrame, pd.DataFrame]] = []
    out: dict[str, tuple[str, pd.DataFrame, bool]] = {}
    for group in _groups(plan.entries, with_demand, task_arcs):
        label = plan.entries[group[0]].code
        dm = dm_all[np.isin(point_area, group)].reset_index(drop=True)
        st = st_all[np.logical_or.reduce([station_masks[i] for i in group])].reset_index(drop=True)
        hashes = "".join(file_sha256(plan.entries[i].path) for i in group)
        key = _content_key(hashes, st, dm, params)
        old = _previous_part(previous, label, key)
        if old is not None:
            out[label] = (key, old, True)
        else:
            todo.append((label, [str(plan.entries[i].path) for i in group], key, st, dm))
    log.info("%d task(s) to compute, %d reused from the previous result", len(todo), len(out))
    if not todo:
        return out
    with dask_client(scheduler) as client:
        if progress:
            link = client.dashboard_link if _has_bokeh() else "none (install bokeh for Dask's dashboard)"
            log.warning(
                "Dask scheduler %s, %d task(s); dashboard: %s", client.scheduler.address, len(todo), link
            )
        futures = [
            client.submit(
                run_area,
                paths[0] if len(paths) == 1 else paths,
                st,
                dm,
                key=f"region-area-{label}-{key[:16]}",
                pure=False,
                retries=2,
                **params,
            )
            for label, paths, key, st, dm in todo
        ]
        if progress:
            from distributed import progress as dask_progress

            dask_progress(futures)
        results = client.gather(futures)
    for (label, _paths, key, _st, _dm), part in zip(todo, results, strict=True):
        out[label] = (key, part, False)
    return out


# ------------------------------------------------------------------------------------------ merge
def _codes(code: str) -> tuple[str | None, str | None]:
    """(prefecture, province) of a 6-digit adcode; (None, None) for other codes."""
    if len(code) == 6 and code.isdigit():
        return code[:4] + "00", code[:2] + "0000"
    return None, None


def _table(
    keys: NDArray[np.object_],
    order: list[Any],
    weight: NDArray[np.float64],
    mins: NDArray[np.float64],
    minutes: float,
) -> pd.DataFrame:
    rows = []
    for k in order:
        m = keys == k
        w, t = weight[m], mins[m]
        reach = np.isfinite(t)
        demand = float(w.sum())
        covered = float(w[reach & (t <= minutes)].sum())
        rows.append(
            {
                "code": k,
                "demand": demand,
                "covered": covered,
                "covered_share": covered / demand if demand > 0 else float("nan"),
                "p95_minutes": weighted_quantile(t[reach], w[reach], 0.95),
                "points": int(m.sum()),
            }
        )
    return pd.DataFrame(rows, columns=["code", "demand", "covered", "covered_share", "p95_minutes", "points"])


def _merge(
    plan: _Plan,
    parts: dict[str, tuple[str, pd.DataFrame, bool]],
    ids: NDArray[np.object_],
    weight: NDArray[np.float64],
    point_area: NDArray[np.int64],
    st_all: pd.DataFrame,
    station_area: NDArray[np.int64],
    *,
    mode: str,
    params: dict[str, Any],
) -> RegionResult:
    n = len(ids)
    mins = np.full(n, np.nan)
    station = np.full(n, None, dtype=object)
    snapped = np.zeros(n, dtype=bool)
    for _key, part, _reused in parts.values():
        pos = part["pos"].to_numpy(dtype=np.int64)
        mins[pos] = part["minutes"].to_numpy(dtype=np.float64)
        station[pos] = [None if pd.isna(v) else str(v) for v in part["station_id"]]
        snapped[pos] = part["snapped"].to_numpy(dtype=bool)
    codes = np.asarray([e.code for e in plan.entries], dtype=object)
    pt_code = np.asarray([codes[i] if i >= 0 else None for i in point_area.tolist()], dtype=object)
    points = pd.DataFrame(
        {
            "id": pd.Series(ids, dtype=object),
            "area_code": pd.Series(pt_code, dtype=object),
            "minutes": mins,
            "station_id": pd.Series(station, dtype=object),
            "weight": weight,
        }
    )
    minutes = float(params["minutes"])
    inside = point_area >= 0
    county = _table(pt_code, list(codes), weight, mins, minutes)
    pref_prov = [_codes(c) for c in codes]
    areas = gpd.GeoDataFrame(
        {
            "area_code": list(codes),
            "name": [e.name for e in plan.entries],
            "prefecture_code": [p for p, _ in pref_prov],
            "province_code": [q for _, q in pref_prov],
            "demand": county["demand"],
            "covered": county["covered"],
            "covered_share": county["covered_share"],
            "p95_minutes": county["p95_minutes"],
        },
        geometry=list(plan.polygons),
        crs=WGS84,
    )
    summary = _summary(
        points, inside, snapped, codes, pref_prov, st_all, station_area, mode=mode, params=params
    )
    summary["run"] = {
        "areas": len(codes),
        "tasks_computed": sum(1 for p in parts.values() if not p[2]),
        "tasks_reused": sum(1 for p in parts.values() if p[2]),
    }
    return RegionResult(
        points=points, areas=areas, summary=summary, parts={c: (k, p) for c, (k, p, _r) in parts.items()}
    )


def _records(table: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for row in table.to_dict("records"):
        out.append(
            {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()}
        )
    return out


def _summary(
    points: pd.DataFrame,
    inside: NDArray[np.bool_],
    snapped: NDArray[np.bool_],
    codes: NDArray[np.object_],
    pref_prov: list[tuple[str | None, str | None]],
    st_all: pd.DataFrame,
    station_area: NDArray[np.int64],
    *,
    mode: str,
    params: dict[str, Any],
) -> dict[str, Any]:
    w = points["weight"].to_numpy(dtype=np.float64)
    t = points["minutes"].to_numpy(dtype=np.float64)
    minutes = float(params["minutes"])
    total = float(w[inside].sum())
    covered = float(w[inside & np.isfinite(t) & (t <= minutes)].sum())
    reach = inside & np.isfinite(t)
    outside_ids = points["id"][~inside].tolist()
    st_out = st_all["station_id"][station_area < 0].tolist()
    level_of = {
        c: {"county": c, "prefecture": p or "(unknown)", "province": q or "(unknown)"}
        for c, (p, q) in zip(codes, pref_prov, strict=True)
    }
    rollups = {}
    in_codes = points["area_code"].to_numpy(dtype=object)[inside]
    for level in ROLLUP_LEVELS:
        keys = np.asarray([level_of[c][level] for c in in_codes], dtype=object)
        order = list(dict.fromkeys(level_of[c][level] for c in codes))
        table = _table(keys, order, w[inside], t[inside], minutes)
        table["areas"] = [sum(1 for c in codes if level_of[c][level] == k) for k in order]
        rollups[level] = _records(table)
    return {
        "mode": mode,
        "minutes": minutes,
        "horizon_minutes": float(params["horizon_minutes"]),
        "snap_meters": float(params["snap_meters"]),
        "covered_share": covered / total if total > 0 else None,
        "demand": total,
        "covered": covered,
        "p95_minutes": _none(weighted_quantile(t[reach], w[reach], 0.95)),
        "points": len(points),
        "points_in_areas": int(inside.sum()),
        "unreachable": {
            "count": int(np.sum(inside & snapped & ~np.isfinite(t))),
            "weight": float(w[inside & snapped & ~np.isfinite(t)].sum()),
        },
        "unsnappable": {"count": int(np.sum(inside & ~snapped)), "weight": float(w[inside & ~snapped].sum())},
        "outside_areas": {"count": len(outside_ids), "weight": float(w[~inside].sum()), "ids": outside_ids},
        "stations": {"count": len(st_all), "outside_areas": {"count": len(st_out), "ids": st_out}},
        "rollups": rollups,
    }


def _none(x: float) -> float | None:
    return None if not math.isfinite(x) else float(x)
