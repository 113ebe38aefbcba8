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
from numpy.typing import NDArray

from geo.checks import check_count, check_horizon_minutes, check_minutes, check_non_negative
from geo.coverage import compute_coverage, weighted_quantile
from geo.errors import InputError
from geo.network import read_network_npz
from geo.osm.reader import file_sha256
from geo.region.clip import union_networks
from geo.region.inputs import (
    WGS84,
    RegionPlan,
    area_of,
    demand_rows,
    ids_of,
    plan_region,
    station_rows,
    stations_near,
)
from geo.region.manifest import AreaEntry

log = logging.getLogger(__name__)

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
    _check_arguments(minutes=minutes, horizon_minutes=horizon_minutes, snap_meters=snap_meters,
                     task_arcs=task_arcs)
    plan = plan_region(networks, mode=mode, horizon_minutes=horizon_minutes, snap_meters=snap_meters,
                       areas=areas)
    _check_horizon_reaches(plan, minutes)
    st_all = station_rows(stations, open_only=open_only)
    dm_all = demand_rows(demand)
    point_area = area_of(plan, dm_all["lon"], dm_all["lat"])
    params = {"minutes": minutes, "horizon_minutes": plan.horizon_minutes, "snap_meters": snap_meters}
    parts = _run_tasks(
        plan, st_all, dm_all, point_area, stations_near(plan.entries, st_all, snap_meters=snap_meters),
        params=params, scheduler=scheduler, previous=Path(previous) if previous else None,
        progress=progress, task_arcs=task_arcs,
    )  # fmt: skip
    return _merge(
        plan, parts, ids_of(demand, ("id", "demand_id")), dm_all["weight"].to_numpy(), point_area, st_all,
        area_of(plan, st_all["lon"], st_all["lat"]), mode=mode, params=params,
    )  # fmt: skip


def _check_arguments(*, minutes: float, horizon_minutes: float | None, snap_meters: float,
                     task_arcs: int) -> None:
    """The run's numbers, before the manifest is read (:mod:`geo.checks` wordings)."""
    check_minutes(minutes)
    if horizon_minutes is not None:
        check_horizon_minutes(horizon_minutes, minutes=minutes)
    check_non_negative(snap_meters, field="snap_meters")
    check_count(task_arcs, field="task_arcs", minimum=0)


def _check_horizon_reaches(plan: RegionPlan, minutes: float) -> None:
    """The horizon the halo allows must reach the threshold."""
    if plan.horizon_minutes < minutes:
        raise InputError(
            f"the networks' halo allows a horizon of {plan.horizon_minutes:g} min only, below "
            f"--minutes {minutes:g}",
            field="horizon_minutes",
        )


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
    plan: RegionPlan,
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
    plan: RegionPlan,
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
