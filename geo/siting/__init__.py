"""Siting: where the next stations should go — exact, incremental, phased, on real travel times.

Pipeline (all geometries WGS-84, EPSG:4326):

1. candidates (:mod:`geo.siting.candidates`): host POIs by ``data/host_rules.toml``, a planner's file, or
   street nodes;
2. sparse coverage sets (:mod:`geo.siting.coverage_sets`): candidate × demand within ``minutes`` by the
   project's travel-time definition, with demand covered by the fixed existing stations removed and
   identical demand columns merged;
3. models (:mod:`geo.siting.models`): maximal covering (add ``p``), budget, set covering to a target
   share, each with an optional per-area minimum; exact with HiGHS or lazy greedy (CELF);
4. :class:`~geo.siting.result.SitingResult`: sites in build order with before/after coverage.

:func:`plan_sites` runs the whole pipeline.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.areas import area_index
from geo.errors import InfeasibleError, InputError
from geo.siting.candidates import (
    candidates_from_file,
    candidates_from_network,
    candidates_from_pois,
    load_host_rules,
    validate_candidates,
)
from geo.siting.coverage_sets import CoverageSets, build_coverage_sets
from geo.siting.models import (
    Solution,
    build_order,
    mclp_exact,
    mclp_greedy,
    set_cover_exact,
    set_cover_greedy,
)
from geo.siting.result import SitingResult

__all__ = [
    "CoverageSets",
    "SitingResult",
    "Solution",
    "areas_of_points",
    "build_coverage_sets",
    "build_order",
    "candidates_from_file",
    "candidates_from_network",
    "candidates_from_pois",
    "load_host_rules",
    "mclp_exact",
    "mclp_greedy",
    "plan_sites",
    "set_cover_exact",
    "set_cover_greedy",
    "validate_candidates",
]

log = logging.getLogger(__name__)

METHODS = ("exact", "greedy")


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
) -> SitingResult:
    """Propose where the next stations should go.

    Exactly one of ``add`` (maximal covering: add that many stations), ``target_share`` (set covering: fewest
    stations so the covered share of all demand weight reaches it) or ``budget`` (maximal covering within a
    total of the candidates' ``cost``) is given. Existing stations are fixed: the demand they cover counts
    before anything is added.

    Parameters
    ----------
    network : geo.network.Network
        Street network of the travel mode (its ``speed_kph`` is used).
    stations : GeoDataFrame or None
        Existing stations (canonical stations frame, EPSG:4326); with ``open_only`` only ``status == "open"``
        rows count.
    demand : GeoDataFrame
        Canonical demand frame (EPSG:4326, ``weight``; ``group`` used for the per-group table).
    candidates : GeoDataFrame
        Canonical candidates frame (EPSG:4326).
    minutes : float, default 15
        Travel-time threshold (the project definition, straight-line offsets included).
    add, target_share, budget
        The request (see above). ``target_share`` in (0, 1].
    min_per_area : int, default 0
        Every area must end with at least this many stations, existing ones included (needs ``areas``).
    areas : GeoDataFrame, optional
        Canonical areas frame (``area_code``, ``area_name``, polygons, EPSG:4326) for the per-area minimum
        and the per-area table; candidates, stations and demand are mapped to areas by point-in-polygon.
    method : {"exact", "greedy"}
        HiGHS MIP (with ``time_limit_seconds``) or lazy greedy.
    snap_meters : float, default 300
        Snap limit; farther points are unsnappable (counted in the result, never dropped).
    open_only : bool, default True
        Only open stations are fixed.

    Returns
    -------
    SitingResult

    Raises
    ------
    InputError
        Bad arguments or frames.
    InfeasibleError
        The request cannot be met; the message says what is reachable.
    """
    given = [
        k for k, v in (("add", add), ("target_share", target_share), ("budget", budget)) if v is not None
    ]
    if len(given) != 1:
        msg = f"give exactly one of add, target_share or budget (got {', '.join(given) or 'none'})"
        raise InputError(msg, field="add")
    if method not in METHODS:
        raise InputError(f"unknown method {method!r}; use one of {', '.join(METHODS)}", field="method")
    if not (isinstance(minutes, int | float) and math.isfinite(minutes) and minutes > 0):
        raise InputError(f"minutes must be a number > 0, got {minutes!r}", field="minutes")
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
    _check_points(demand, field="demand")
    _check_points(stations, field="stations")
    validate_candidates(candidates)
    if "weight" not in demand.columns:
        raise InputError("demand needs a 'weight' column", field="demand")

    fixed = stations
    if fixed is not None and open_only and "status" in fixed.columns:
        fixed = fixed[fixed["status"].astype(str) == "open"]
    n_fixed = 0 if fixed is None else len(fixed)
    cs = build_coverage_sets(
        network, candidates, demand, minutes=minutes, stations=fixed, snap_meters=snap_meters
    )
    total = cs.total_weight
    before_w = cs.covered_before_weight
    reach_w = before_w + cs.coverable_weight
    reach_share = reach_w / total if total > 0 else 0.0
    n_cand = len(candidates)

    # areas: candidates' area index and what each area still needs
    area_of = None
    area_need = None
    labels: list[str] | None = None
    a_dem = np.full(len(demand), -1, dtype=np.int64)
    a_st = np.zeros(0, dtype=np.int64)
    if areas is not None and len(areas):
        for col in ("area_code", "area_name"):
            if col not in areas.columns:
                raise InputError(f"areas frame lacks column {col!r}", field="areas")
        area_of = areas_of_points(candidates, areas)
        a_st = areas_of_points(fixed, areas) if fixed is not None and n_fixed else np.zeros(0, dtype=np.int64)
        a_dem = areas_of_points(demand, areas)
        have = np.bincount(a_st[a_st >= 0], minlength=len(areas))
        area_need = np.maximum(0, min_per_area - have)
        labels = [f"{n} ({c})" for c, n in zip(areas["area_code"], areas["area_name"], strict=True)]

    sol: Solution
    if target_share is not None:
        if target_share > reach_share + 1e-9:
            msg = (
                f"target {target_share:g} is above the {reach_share:.3f} that all {n_cand} candidates reach "
                f"(existing stations cover {before_w / total if total else 0:.3f})"
            )
            raise InfeasibleError(msg, field="target_share")
        need_w = max(0.0, target_share * total - before_w)
        need_w = min(need_w, cs.coverable_weight)
        solve_sc = set_cover_exact if method == "exact" else set_cover_greedy
        kwargs: dict[str, Any] = {
            "target_weight": need_w,
            "area_of": area_of,
            "area_need": area_need,
            "area_labels": labels,
        }
        if method == "exact":
            kwargs["time_limit_seconds"] = time_limit_seconds
        sol = solve_sc(cs.matrix, cs.weights, **kwargs)
        model = "set_cover"
    else:
        cost = candidates["cost"].to_numpy(dtype=np.float64)
        kw: dict[str, Any] = {
            "p": add,
            "budget": budget,
            "cost": cost,
            "area_of": area_of,
            "area_need": area_need,
            "area_labels": labels,
        }
        if method == "exact":
            kw["time_limit_seconds"] = time_limit_seconds
            sol = mclp_exact(cs.matrix, cs.weights, **kw)
        else:
            sol = mclp_greedy(cs.matrix, cs.weights, **kw)
        model = "mclp" if add is not None else "budget"

    sel = sol.selected
    after_mask = cs.covered_after(sel)
    after_w = float(cs.demand_weight[after_mask].sum())
    cum = before_w + np.cumsum(sol.gains)

    def share(x: Any) -> Any:
        return x / total if total > 0 else 0.0

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
            "gain_share": share(sol.gains) if total > 0 else np.zeros(sel.size),
            "cumulative_weight": cum,
            "cumulative_share": share(cum) if total > 0 else np.zeros(sel.size),
        }
    )
    if area_of is not None and areas is not None:
        codes = areas["area_code"].astype(str).to_numpy()
        a_sel = area_of[sel]
        frame["area_code"] = [codes[i] if i >= 0 else None for i in a_sel]
    selected = gpd.GeoDataFrame(
        frame, geometry=gpd.points_from_xy(frame["lon"], frame["lat"]), crs="EPSG:4326"
    )

    w = cs.demand_weight
    if areas is not None and len(areas):
        per_area = _coverage_table(
            a_dem, areas["area_code"].astype(str).tolist(), w, cs.covered_before, after_mask, "area_code"
        )
        per_area.insert(1, "area_name", areas["area_name"].astype(str).to_numpy())
        per_area["stations_before"] = np.bincount(a_st[a_st >= 0], minlength=len(areas))
        added = area_of[sel] if area_of is not None else np.zeros(0, dtype=np.int64)
        per_area["stations_added"] = np.bincount(added[added >= 0], minlength=len(areas))
    else:
        per_area = pd.DataFrame(
            columns=[
                "area_code",
                "area_name",
                "weight",
                "covered_before",
                "covered_after",
                "share_before",
                "share_after",
                "stations_before",
                "stations_added",
            ]
        )
    if "group" in demand.columns:
        groups, g_idx = np.unique(demand["group"].astype(str).to_numpy(), return_inverse=True)
        per_group = _coverage_table(
            g_idx.astype(np.int64), groups.tolist(), w, cs.covered_before, after_mask, "group"
        )
    else:
        per_group = _coverage_table(
            np.zeros(len(demand), dtype=np.int64), ["all"], w, cs.covered_before, after_mask, "group"
        )
    log.info(
        "siting %s/%s: %d sites, share %.3f -> %.3f (%s)",
        model,
        method,
        sel.size,
        share(before_w),
        share(after_w),
        sol.status,
    )
    return SitingResult(
        selected=selected,
        total_weight=total,
        covered_before=before_w,
        covered_after=after_w,
        share_before=share(before_w),
        share_after=share(after_w),
        reachable_share=reach_share,
        per_area=per_area,
        per_group=per_group,
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
    )
