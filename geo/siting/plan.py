"""``plan_sites``: the whole siting pipeline, from frames to a :class:`~geo.siting.result.SitingResult`.

Steps: validate the request, fix the open existing stations, build the sparse coverage sets, map
candidates/stations/demand to areas, solve the model, then tabulate the proposals and the per-area and
per-group coverage before and after. All geometries are WGS-84 (EPSG:4326).
"""

from __future__ import annotations

import functools
import logging
import math
from dataclasses import dataclass, replace
from typing import Any, cast

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.areas import area_index
from geo.checks import MAX_HORIZON_MINUTES, check_fairness_request, check_minutes, check_positive, check_share
from geo.errors import InfeasibleError, InputError
from geo.siting.candidates import validate_candidates
from geo.siting.coverage_sets import CoverageSets, build_coverage_sets
from geo.siting.exact import mclp_exact
from geo.siting.fairness import FairLayer, explain_infeasible, group_quantile, make_layer, price_of_fairness
from geo.siting.highs import ShareRows
from geo.siting.models import Solution, mclp_greedy, set_cover_exact, set_cover_greedy
from geo.siting.result import SitingResult

log = logging.getLogger(__name__)

METHODS = ("exact", "greedy")

PER_AREA_COLUMNS = (
    "area_code",
    "area_name",
    "weight",
    "covered_before",
    "covered_after",
    "share_before",
    "share_after",
    "stations_before",
    "stations_added",
)


def areas_of_points(points: gpd.GeoDataFrame, areas: gpd.GeoDataFrame) -> np.ndarray:
    """Index (row position in ``areas``) of the area holding each point, −1 outside every area.

    Points on a shared border or in overlapping areas get the first area in ``areas`` order.
    Both frames are EPSG:4326.
    """
    if len(points) == 0 or len(areas) == 0:
        return np.full(len(points), -1, dtype=np.int64)
    geoms = (
        points.geometry.to_crs(areas.crs)
        if areas.crs is not None and points.crs != areas.crs
        else (points.geometry)
    )
    return area_index(geoms.x.to_numpy(), geoms.y.to_numpy(), areas)


@dataclass(frozen=True)
class _AreaContext:
    """Areas mapped onto the instance: each candidate's, station's and demand point's area index (−1 for
    none), what each area still needs, and the labels used in messages."""

    of_candidate: np.ndarray | None
    of_station: np.ndarray
    of_demand: np.ndarray
    need: np.ndarray | None
    labels: list[str] | None


def _check_points(frame: gpd.GeoDataFrame | None, *, field: str) -> None:
    if frame is None:
        return
    if not isinstance(frame, gpd.GeoDataFrame):
        raise InputError(f"{field} must be a GeoDataFrame", field=field)
    if len(frame) == 0:
        return
    if frame.crs is None or frame.crs.to_epsg() != 4326:
        raise InputError(f"{field} must be in EPSG:4326", field=field)
    if len(frame) and not (frame.geometry.geom_type == "Point").all():
        raise InputError(f"{field} geometries must be points", field=field)


def _validate_request(
    *,
    minutes: float,
    add: int | None,
    target_share: float | None,
    budget: float | None,
    min_per_area: int,
    areas: gpd.GeoDataFrame | None,
    method: str,
    time_limit_seconds: float,
) -> None:
    given = [
        k for k, v in (("add", add), ("target_share", target_share), ("budget", budget)) if v is not None
    ]
    if len(given) != 1:
        msg = f"give exactly one of add, target_share or budget (got {', '.join(given) or 'none'})"
        raise InputError(msg, field="add")
    if method not in METHODS:
        raise InputError(f"unknown method {method!r}; use one of {', '.join(METHODS)}", field="method")
    check_positive(minutes, field="minutes", unit="minutes")
    if add is not None and (not isinstance(add, int | np.integer) or add < 0):
        raise InputError(f"add must be a whole number >= 0, got {add!r}", field="add")
    if target_share is not None and not (0 < target_share <= 1):
        raise InputError(f"target_share must be in (0, 1], got {target_share!r}", field="target_share")
    if budget is not None and not (math.isfinite(budget) and budget >= 0):
        raise InputError(f"budget must be a number >= 0, got {budget!r}", field="budget")
    if min_per_area < 0:
        raise InputError(f"min_per_area must be >= 0, got {min_per_area}", field="min_per_area")
    if min_per_area > 0 and (areas is None or len(areas) == 0):
        raise InputError("min_per_area needs areas", field="areas")
    if not time_limit_seconds > 0:
        raise InputError(f"time_limit_seconds must be > 0, got {time_limit_seconds}", field="time_limit")


def _fixed_stations(stations: gpd.GeoDataFrame | None, *, open_only: bool) -> gpd.GeoDataFrame | None:
    if stations is not None and open_only and "status" in stations.columns:
        return stations[stations["status"].astype(str) == "open"]
    return stations


def _area_context(
    areas: gpd.GeoDataFrame | None,
    candidates: gpd.GeoDataFrame,
    fixed: gpd.GeoDataFrame | None,
    demand: gpd.GeoDataFrame,
    *,
    min_per_area: int,
) -> _AreaContext:
    if areas is None or len(areas) == 0:
        return _AreaContext(
            None, np.zeros(0, dtype=np.int64), np.full(len(demand), -1, dtype=np.int64), None, None
        )
    for col in ("area_code", "area_name"):
        if col not in areas.columns:
            raise InputError(f"areas frame lacks column {col!r}", field="areas")
    a_st = areas_of_points(fixed, areas) if fixed is not None and len(fixed) else np.zeros(0, dtype=np.int64)
    have = np.bincount(a_st[a_st >= 0], minlength=len(areas))
    return _AreaContext(
        of_candidate=areas_of_points(candidates, areas),
        of_station=a_st,
        of_demand=areas_of_points(demand, areas),
        need=np.maximum(0, min_per_area - have),
        labels=[f"{n} ({c})" for c, n in zip(areas["area_code"], areas["area_name"], strict=True)],
    )


def _solve(
    cs: CoverageSets,
    candidates: gpd.GeoDataFrame,
    ctx: _AreaContext,
    *,
    add: int | None,
    target_share: float | None,
    budget: float | None,
    method: str,
    time_limit_seconds: float,
    shares: tuple[ShareRows, ...] = (),
) -> tuple[Solution, str]:
    """Run the requested model on the coverage sets (with the fairness ``shares`` rows: exact maximal
    covering only); returns the solution and the model name."""
    total = cs.total_weight
    areas_kw: dict[str, Any] = {"area_of": ctx.of_candidate, "area_need": ctx.need, "area_labels": ctx.labels}
    if method == "exact":
        areas_kw["time_limit_seconds"] = time_limit_seconds
    if target_share is not None:
        reach_share = (cs.covered_before_weight + cs.coverable_weight) / total if total > 0 else 0.0
        if target_share > reach_share + 1e-9:
            msg = (
                f"target {target_share:g} is above the {reach_share:.3f} that all {len(candidates)} "
                f"candidates reach (existing stations cover "
                f"{cs.covered_before_weight / total if total else 0:.3f})"
            )
            raise InfeasibleError(msg, field="target_share")
        need_w = min(max(0.0, target_share * total - cs.covered_before_weight), cs.coverable_weight)
        solve_sc = set_cover_exact if method == "exact" else set_cover_greedy
        return solve_sc(cs.matrix, cs.weights, target_weight=need_w, **areas_kw), "set_cover"
    cost = candidates["cost"].to_numpy(dtype=np.float64)
    if shares:
        areas_kw["shares"] = shares
    solve_mclp = mclp_exact if method == "exact" else mclp_greedy
    sol = solve_mclp(cs.matrix, cs.weights, p=add, budget=budget, cost=cost, **areas_kw)
    return sol, "mclp" if add is not None else "budget"


def _coverage_table(
    keys: np.ndarray, labels: list[Any], weight: np.ndarray, before: np.ndarray, after: np.ndarray, name: str
) -> pd.DataFrame:
    n = len(labels)
    ok = keys >= 0
    w = np.bincount(keys[ok], weights=weight[ok], minlength=n)
    b = np.bincount(keys[ok], weights=(weight * before)[ok], minlength=n)
    a = np.bincount(keys[ok], weights=(weight * after)[ok], minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        return pd.DataFrame(
            {
                name: labels,
                "weight": w,
                "covered_before": b,
                "covered_after": a,
                "share_before": np.where(w > 0, b / np.where(w > 0, w, 1), np.nan),
                "share_after": np.where(w > 0, a / np.where(w > 0, w, 1), np.nan),
            }
        )


def _selected_frame(
    candidates: gpd.GeoDataFrame,
    sol: Solution,
    cs: CoverageSets,
    ctx: _AreaContext,
    areas: gpd.GeoDataFrame | None,
) -> gpd.GeoDataFrame:
    sel = sol.selected
    total = cs.total_weight
    cum = cs.covered_before_weight + np.cumsum(sol.gains)
    sub = candidates.iloc[sel]
    frame = pd.DataFrame(
        {
            "order": np.arange(1, sel.size + 1, dtype=np.int64),
            "candidate_id": sub["candidate_id"].astype(str).to_numpy(),
            "name": sub["name"].astype(str).to_numpy(),
            "host_type": sub["host_type"].astype(str).to_numpy(),
            "cost": sub["cost"].to_numpy(dtype=np.float64),
            "lon": sub.geometry.x.to_numpy(),
            "lat": sub.geometry.y.to_numpy(),
            "gain": sol.gains,
            "gain_share": sol.gains / total if total > 0 else np.zeros(sel.size),
            "cumulative_weight": cum,
            "cumulative_share": cum / total if total > 0 else np.zeros(sel.size),
        }
    )
    if ctx.of_candidate is not None and areas is not None:
        codes = areas["area_code"].astype(str).to_numpy()
        frame["area_code"] = [codes[i] if i >= 0 else None for i in ctx.of_candidate[sel]]
    return gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(frame["lon"], frame["lat"]), crs="EPSG:4326")


def _per_area_table(
    areas: gpd.GeoDataFrame | None, ctx: _AreaContext, cs: CoverageSets, after: np.ndarray, sel: np.ndarray
) -> pd.DataFrame:
    if areas is None or len(areas) == 0:
        return pd.DataFrame(columns=list(PER_AREA_COLUMNS))
    codes = areas["area_code"].astype(str).tolist()
    table = _coverage_table(ctx.of_demand, codes, cs.demand_weight, cs.covered_before, after, "area_code")
    table.insert(1, "area_name", areas["area_name"].astype(str).to_numpy())
    a_st = ctx.of_station
    table["stations_before"] = np.bincount(a_st[a_st >= 0], minlength=len(areas))
    added = ctx.of_candidate[sel] if ctx.of_candidate is not None else np.zeros(0, dtype=np.int64)
    table["stations_added"] = np.bincount(added[added >= 0], minlength=len(areas))
    return table


def _per_group_table(demand: gpd.GeoDataFrame, cs: CoverageSets, after: np.ndarray) -> pd.DataFrame:
    keys, labels = _group_keys(demand)
    return _coverage_table(keys, labels, cs.demand_weight, cs.covered_before, after, "group")


def plan_sites(
    network: Any,
    stations: gpd.GeoDataFrame | None,
    demand: gpd.GeoDataFrame,
    candidates: gpd.GeoDataFrame,
    *,
    minutes: float = 15,
    add: int | None = None,
    target_share: float | None = None,
    budget: float | None = None,
    min_per_area: int = 0,
    areas: gpd.GeoDataFrame | None = None,
    method: str = "exact",
    time_limit_seconds: float = 60,
    snap_meters: float = 300,
    open_only: bool = True,
    min_share_per_area: float | None = None,
    max_p95_per_area_minutes: float | None = None,
    min_share_per_group: float | None = None,
) -> SitingResult:
    """Propose where the next stations should go.

    Exactly one of ``add`` (maximal covering: add that many stations), ``target_share`` (set covering: fewest
    stations so the covered share of all demand weight reaches it, in (0, 1]) or ``budget`` (maximal
    covering within a total of the candidates' ``cost``) is given. Existing stations are fixed: the demand
    they cover counts before anything is added.

    Parameters
    ----------
    network : geo.network.Network
        Street network of the travel mode (its ``speed_kph`` is used).
    stations, demand, candidates : GeoDataFrame
        Canonical frames (EPSG:4326): existing stations (or None; with ``open_only`` only ``status ==
        "open"`` rows count), demand (``weight``; ``group`` for the per-group table), candidates.
    minutes : float, default 15
        Travel-time threshold (the project definition, straight-line offsets included).
    min_per_area : int, default 0
        Every area must end with at least this many stations, existing ones included (needs ``areas``).
    areas : GeoDataFrame, optional
        Canonical areas frame (``area_code``, ``area_name``, polygons, EPSG:4326) for the per-area minimum
        and the per-area table; candidates, stations and demand are mapped to areas by point-in-polygon.
    method, time_limit_seconds, snap_meters, open_only
        ``exact`` (HiGHS MIP within the time limit) or ``greedy`` (lazy greedy); the snap limit in metres
        (farther points are unsnappable, counted, never dropped); whether only open stations are fixed.
    min_share_per_area, max_p95_per_area_minutes, min_share_per_group : optional
        Fairness (exact ``add``/``budget``; the mathematics in :mod:`geo.siting.fairness`): every area
        covered at least this share within ``minutes``; every area's p95 at most these minutes (95 % of its
        weight within them); every worker group (``group``) covered at least this share. The unconstrained
        optimum is solved too, for the price of fairness and the binding areas and groups.

    Returns
    -------
    SitingResult

    Raises
    ------
    InputError
        Bad arguments or frames.
    InfeasibleError
        The request cannot be met; the message says what is reachable (or which areas/groups are short).
    """
    fair_args = {"min_share_per_area": min_share_per_area, "min_share_per_group": min_share_per_group,
                 "max_p95_per_area_minutes": max_p95_per_area_minutes}  # fmt: skip
    _validate_request(minutes=minutes, add=add, target_share=target_share, budget=budget,
                      min_per_area=min_per_area, areas=areas, method=method,
                      time_limit_seconds=time_limit_seconds)  # fmt: skip
    _validate_fairness(fair_args, areas=areas, method=method, target_share=target_share)
    _check_frames(stations, demand, candidates)
    fixed = _fixed_stations(stations, open_only=open_only)
    cs = build_coverage_sets(network, candidates, demand, minutes=minutes, stations=fixed,
                             snap_meters=snap_meters)  # fmt: skip
    ctx = _area_context(areas, candidates, fixed, demand, min_per_area=min_per_area)
    layers = _fair_layers(network, candidates, demand, fixed, cs, ctx, fair_args, minutes=minutes,
                          snap_meters=snap_meters)  # fmt: skip
    run = functools.partial(_solve, cs, candidates, ctx, add=add, target_share=target_share, budget=budget,
                            method=method, time_limit_seconds=time_limit_seconds)  # fmt: skip
    sol, model, fair = _solve_all(run, cs, layers, fair_args, candidates, add=add, budget=budget)
    res = _result(cs, candidates, demand, areas, ctx, sol, model=model, method=method, minutes=minutes)
    return _with_fairness(res, network, fixed, demand, areas, ctx, sol, fair, minutes=minutes,
                          snap_meters=snap_meters)  # fmt: skip


def _check_frames(
    stations: gpd.GeoDataFrame | None, demand: gpd.GeoDataFrame, candidates: gpd.GeoDataFrame
) -> None:
    _check_points(demand, field="demand")
    _check_points(stations, field="stations")
    validate_candidates(candidates)
    if "weight" not in demand.columns:
        raise InputError("demand needs a 'weight' column", field="demand")


def _validate_fairness(
    args: dict[str, float | None], *, areas: gpd.GeoDataFrame | None, method: str, target_share: float | None
) -> None:
    """The fairness arguments (geo.checks wordings): shares in [0, 1], minutes in (0, 120]; they need areas
    (per area), the exact method and a maximal covering request."""
    given = [k for k, v in args.items() if v is not None]
    for k in given:
        if k == "max_p95_per_area_minutes":
            check_minutes(args[k], field=k)
        else:
            check_share(args[k], field=k)
    check_fairness_request(given, method=method, set_cover=target_share is not None,
                           has_areas=areas is not None and len(areas) > 0)  # fmt: skip


def _group_keys(demand: gpd.GeoDataFrame) -> tuple[np.ndarray, list[str]]:
    """Worker-group index of each demand point and the group names (one group ``all`` without ``group``)."""
    if "group" in demand.columns:
        groups, g_idx = np.unique(demand["group"].astype(str).to_numpy(), return_inverse=True)
        return g_idx.astype(np.int64), [str(g) for g in groups]
    return np.zeros(len(demand), dtype=np.int64), ["all"]


def _fair_layers(
    network: Any,
    candidates: gpd.GeoDataFrame,
    demand: gpd.GeoDataFrame,
    fixed: gpd.GeoDataFrame | None,
    cs: CoverageSets,
    ctx: _AreaContext,
    args: dict[str, float | None],
    *,
    minutes: float,
    snap_meters: float,
) -> tuple[FairLayer, ...]:
    """The fairness layers asked for, each checked reachable with every candidate built; the p95 ceiling
    gets coverage sets at its own cutoff (the same sets when it equals ``minutes``)."""
    layers = []
    labels = ctx.labels or []
    if args["min_share_per_area"] is not None:
        layers.append(make_layer(cs, ctx.of_demand, labels, field="min_share_per_area",
                                 value=float(args["min_share_per_area"]), grouping="area"))  # fmt: skip
    m = args["max_p95_per_area_minutes"]
    if m is not None:
        cs_m = cs if float(m) == float(minutes) else build_coverage_sets(
            network, candidates, demand, minutes=float(m), stations=fixed, snap_meters=snap_meters)
        layers.append(make_layer(cs_m, ctx.of_demand, labels, field="max_p95_per_area_minutes",
                                 value=float(m), grouping="area"))  # fmt: skip
    if args["min_share_per_group"] is not None:
        keys, names = _group_keys(demand)
        layers.append(make_layer(cs, keys, names, field="min_share_per_group",
                                 value=float(args["min_share_per_group"]), grouping="group"))  # fmt: skip
    return tuple(layers)


@dataclass(frozen=True)
class _FairRun:
    """The fairness layers of a request, the unconstrained optimum and the arguments given."""

    layers: tuple[FairLayer, ...]
    free: Solution
    args: dict[str, float]
    cs: CoverageSets


def _solve_all(
    run: Any,
    cs: CoverageSets,
    layers: tuple[FairLayer, ...],
    fair_args: dict[str, float | None],
    candidates: gpd.GeoDataFrame,
    *,
    add: int | None,
    budget: float | None,
) -> tuple[Solution, str, _FairRun | None]:
    """The request's optimum; with fairness layers the unconstrained optimum first, then the fair one."""
    sol, model = run()
    if not layers:
        return sol, model, None
    fair = _FairRun(layers, sol, {k: float(v) for k, v in fair_args.items() if v is not None}, cs)
    return _solve_fair(run, layers, candidates, add=add, budget=budget), model, fair


def _solve_fair(
    run: Any, layers: tuple[FairLayer, ...], candidates: gpd.GeoDataFrame, *, add: int | None,
    budget: float | None,
) -> Solution:  # fmt: skip
    """The fair optimum; an infeasible model becomes an error naming the areas or groups that cannot reach
    their floor within ``add`` / ``budget``."""
    shares = tuple(layer.shares.rows for layer in layers)
    try:
        sol, _ = run(shares=shares)
    except InfeasibleError as exc:
        if exc.field is not None:
            raise
        cost = candidates["cost"].to_numpy(dtype=np.float64)
        raise explain_infeasible(shares, cost, p=add, budget=budget) from None
    return cast(Solution, sol)
def _result(
    cs: CoverageSets,
    candidates: gpd.GeoDataFrame,
    demand: gpd.GeoDataFrame,
    areas: gpd.GeoDataFrame | None,
    ctx: _AreaContext,
    sol: Solution,
    *,
    model: str,
    method: str,
    minutes: float,
) -> SitingResult:
    """Tabulate a solution: proposals in build order, per-area and per-group coverage, the certificate."""
    total = cs.total_weight
    before_w = cs.covered_before_weight
    after_mask = cs.covered_after(sol.selected)
    after_w = float(cs.demand_weight[after_mask].sum())

    def share(x: float) -> float:
        return x / total if total > 0 else 0.0

    log.info(
        "siting %s/%s: %d sites, share %.3f -> %.3f (%s)",
        model,
        method,
        sol.selected.size,
        share(before_w),
        share(after_w),
        sol.status,
    )
    return SitingResult(
        selected=_selected_frame(candidates, sol, cs, ctx, areas),
        total_weight=total,
        covered_before=before_w,
        covered_after=after_w,
        share_before=share(before_w),
        share_after=share(after_w),
        reachable_share=share(before_w + cs.coverable_weight),
        per_area=_per_area_table(areas, ctx, cs, after_mask, sol.selected),
        per_group=_per_group_table(demand, cs, after_mask),
        model=model,
        method=method,
        status=sol.status,
        objective=sol.objective,
        bound=sol.bound,
        gap=sol.gap,
        seconds=sol.seconds,
        coverage_seconds=cs.seconds,
        minutes=float(minutes),
        unsnappable={
            "demand": int(cs.demand_unsnappable.sum()),
            "candidates": int(cs.candidate_unsnappable.sum()),
            "stations": int(cs.station_unsnappable.sum()),
        },
        bound_source=sol.bound_source,
        stop_reason=sol.stop_reason,
        presolve=dict(sol.presolve),
    )


def _nearest_minutes(
    network: Any, stations: gpd.GeoDataFrame | None, demand: gpd.GeoDataFrame, *, minutes: float,
    horizon_minutes: float, snap_meters: float,
) -> np.ndarray:  # fmt: skip
    """Minutes from each demand point to its nearest station (NaN unreachable within the horizon or
    unsnappable) by the coverage pass (:func:`geo.coverage.compute_coverage`)."""
    from geo.coverage import compute_coverage

    if stations is None or len(stations) == 0:
        return np.full(len(demand), np.nan)
    frame = gpd.GeoDataFrame({"station_id": np.arange(len(stations))}, geometry=stations.geometry.to_numpy(),
                             crs="EPSG:4326")  # fmt: skip
    cov = compute_coverage(network, frame, demand, minutes=minutes, horizon_minutes=horizon_minutes,
                           open_only=False, snap_meters=snap_meters)  # fmt: skip
    return cov.demand["minutes"].to_numpy(dtype=np.float64)


def _with_fairness(
    res: SitingResult,
    network: Any,
    fixed: gpd.GeoDataFrame | None,
    demand: gpd.GeoDataFrame,
    areas: gpd.GeoDataFrame | None,
    ctx: _AreaContext,
    sol: Solution,
    fair: _FairRun | None,
    *,
    minutes: float,
    snap_meters: float,
) -> SitingResult:
    """Add the per-area p95 before and after (with areas) and, for a fair request, the unconstrained shares,
    the binding flags, the binding areas and groups and the price of fairness."""
    per_area, per_group = res.per_area, res.per_group
    w = demand["weight"].to_numpy(dtype=np.float64)
    if areas is not None and len(areas):
        ceiling = fair.args.get("max_p95_per_area_minutes", 0.0) if fair else 0.0
        horizon = min(MAX_HORIZON_MINUTES, max(60.0, 2 * float(minutes), 2 * ceiling))
        now = [fixed, res.selected] if fixed is not None and len(fixed) else [res.selected]
        after = gpd.GeoDataFrame(pd.concat([f[["geometry"]] for f in now], ignore_index=True),
                                 geometry="geometry", crs="EPSG:4326")  # fmt: skip
        p95 = {
            f"p95_{when}": group_quantile(
                _nearest_minutes(network, frame, demand, minutes=minutes, horizon_minutes=horizon,
                                 snap_meters=snap_meters), w, ctx.of_demand, len(areas))
            for when, frame in (("before", fixed), ("after", after))
        }  # fmt: skip
        per_area = per_area.assign(**p95)
    if fair is None:
        return replace(res, per_area=per_area)
    free_mask = fair.cs.covered_after(fair.free.selected)
    bound = {"area": np.zeros(len(per_area), dtype=bool), "group": np.zeros(len(per_group), dtype=bool)}
    for layer in fair.layers:
        bound[layer.grouping] |= layer.binds(sol.selected, fair.free.selected)
    if len(per_area):
        per_area = per_area.assign(share_unconstrained=_shares(ctx.of_demand, len(per_area), w, free_mask),
                                   bound=bound["area"])  # fmt: skip
    keys, _ = _group_keys(demand)
    per_group = per_group.assign(share_unconstrained=_shares(keys, len(per_group), w, free_mask),
                                 bound=bound["group"])  # fmt: skip
    return replace(
        res, per_area=per_area, per_group=per_group, fairness=dict(fair.args),
        price_of_fairness=price_of_fairness(fair.free.covered, sol.covered, before=res.covered_before,
                                            total=res.total_weight),
        binding_areas=tuple(per_area.loc[per_area["bound"].astype(bool), "area_code"].astype(str))
        if len(per_area) else (),
        binding_groups=tuple(per_group.loc[per_group["bound"].astype(bool), "group"].astype(str)),
    )  # fmt: skip


def _shares(keys: np.ndarray, n: int, weight: np.ndarray, covered: np.ndarray) -> np.ndarray:
    """Per key the covered share of its weight (NaN without weight)."""
    ok = keys >= 0
    total = np.bincount(keys[ok], weights=weight[ok], minlength=n)
    got = np.bincount(keys[ok], weights=(weight * covered)[ok], minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, got / np.where(total > 0, total, 1.0), np.nan)
