"""Two evaluated plans side by side: per 街道/乡镇 and per worker group, the covered share, the p95
minutes, the workers (demand weight) gained and lost, and the cost; and the demand points whose
coverage differs, for a map of the difference.

Both results must come from the same demand points (same ``demand_id``s): the comparison is point by
point. Weights are demand weights (workers); shares are 0–1; minutes are travel minutes.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.coverage import CoverageResult, weighted_quantile
from geo.errors import InputError

#: the per-area and per-group columns of a comparison (a = first plan, b = second)
COMPARE_COLUMNS: tuple[str, ...] = (
    "demand", "covered_share_a", "covered_share_b", "p95_minutes_a", "p95_minutes_b", "gained", "lost",
    "net_gain",
)


@dataclass(frozen=True, eq=False)
class Comparison:
    """Plan ``a`` against plan ``b`` (see the module docstring).

    Attributes
    ----------
    summary : dict
        ``covered_share_a/b``, ``gained``, ``lost``, ``net_gain`` (weights), ``cost_a/b``,
        ``cost_per_gained`` (yuan per net worker gained, None without a gain).
    by_area, by_group : DataFrame
        :data:`COMPARE_COLUMNS` per ``area_code``/``area_name`` and per ``group``.
    changed : GeoDataFrame
        The demand points whose coverage differs: ``demand_id``, ``group``, ``weight``, ``minutes_a``,
        ``minutes_b``, ``change`` (``gained`` or ``lost``), EPSG:4326.
    """

    summary: dict[str, float | None]
    by_area: pd.DataFrame
    by_group: pd.DataFrame
    changed: gpd.GeoDataFrame


def compare_results(a: CoverageResult, b: CoverageResult, *, cost_a: float = 0.0,
                    cost_b: float = 0.0) -> Comparison:
    """Compare two coverage results over the same demand points (plan ``a`` → plan ``b``)."""
    points = _paired(a, b)
    summary = _summary(points, cost_a, cost_b)
    by_area = _grouped(points, ["area_code", "area_name"]) if "area_code" in points else _empty(["area_code"])
    by_group = _grouped(points, ["group"])
    changed = points[points["change"] != ""][["demand_id", "group", "weight", "minutes_a", "minutes_b",
                                              "change", "geometry"]]
    return Comparison(summary, by_area, by_group,
                      gpd.GeoDataFrame(changed.reset_index(drop=True), geometry="geometry", crs="EPSG:4326"))


def _paired(a: CoverageResult, b: CoverageResult) -> gpd.GeoDataFrame:
    da, db = a.demand, b.demand
    if len(da) != len(db) or not (da["demand_id"].astype(str).to_numpy()
                                  == db["demand_id"].astype(str).to_numpy()).all():
        raise InputError("the two plans were evaluated on different demand points; evaluate both on the same "
                         "demand", field="demand")
    keep = [c for c in ("demand_id", "group", "weight", "area_code", "area_name", "geometry") if c in da]
    points = da[keep].copy()
    points["minutes_a"] = da["minutes"].to_numpy(dtype=float)
    points["minutes_b"] = db["minutes"].to_numpy(dtype=float)
    points["covered_a"] = da["covered"].to_numpy(dtype=bool)
    points["covered_b"] = db["covered"].to_numpy(dtype=bool)
    points["change"] = np.where(points["covered_b"] & ~points["covered_a"], "gained",
                                np.where(points["covered_a"] & ~points["covered_b"], "lost", ""))
    return points


def _figures(points: pd.DataFrame) -> dict[str, float]:
    """Demand, both covered shares, both p95 minutes and the workers gained and lost of some points."""
    w = points["weight"].to_numpy(dtype=float)
    total = float(w.sum())
    gained = float(w[points["change"] == "gained"].sum())
    lost = float(w[points["change"] == "lost"].sum())
    return {
        "demand": total,
        "covered_share_a": float(w[points["covered_a"]].sum()) / total if total else 0.0,
        "covered_share_b": float(w[points["covered_b"]].sum()) / total if total else 0.0,
        "p95_minutes_a": weighted_quantile(points["minutes_a"].to_numpy(), w, 0.95),
        "p95_minutes_b": weighted_quantile(points["minutes_b"].to_numpy(), w, 0.95),
        "gained": gained, "lost": lost, "net_gain": gained - lost,
    }


def _summary(points: pd.DataFrame, cost_a: float, cost_b: float) -> dict[str, float | None]:
    figures = _figures(points)
    net = figures["net_gain"]
    shown = {k: figures[k] for k in ("demand", "covered_share_a", "covered_share_b", "gained", "lost",
                                      "net_gain")}
    return {**shown, "cost_a": cost_a, "cost_b": cost_b,
            "cost_per_gained": (cost_b - cost_a) / net if net > 0 else None}


def _grouped(points: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    rows = []
    for key, part in points.groupby(keys, dropna=False, sort=True):
        key_values = key if isinstance(key, tuple) else (key,)
        rows.append({**dict(zip(keys, key_values, strict=True)), **_figures(part)})
    return pd.DataFrame(rows, columns=[*keys, *COMPARE_COLUMNS])


def _empty(keys: list[str]) -> pd.DataFrame:
    return pd.DataFrame(columns=[*keys, *COMPARE_COLUMNS])
