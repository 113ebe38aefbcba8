"""Two evaluated plans side by side: per 街道/乡镇 and per worker group, the covered share, the p95
minutes, the workers (demand weight) gained and lost, and the cost; and the demand points whose
coverage differs, for a map of the difference.

Both results must come from the same demand points (same ``demand_id``s): the comparison is point by
point. Weights are demand weights (workers); shares are 0–1; minutes are travel minutes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.amap import amap_url
from geo.catalog import worker_groups
from geo.coverage import CoverageResult, weighted_quantile
from geo.crs import wgs84_to_gcj02
from geo.errors import InputError
from geo.network import Network
from geo.scenario import diff
from geo.scenario.plan import Scenario, apply_actions
from geo.study import area_label, num_text, pct_text

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
        ``demand``, ``covered_share_a/b``, ``p95_minutes_a/b`` (NaN when no weight is reachable),
        ``gained``, ``lost``, ``net_gain`` (weights), ``cost_a/b``,
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
    shown = {k: figures[k] for k in ("demand", "covered_share_a", "covered_share_b", "p95_minutes_a",
                                      "p95_minutes_b", "gained", "lost", "net_gain")}
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


# ------------------------------------------------------------------------------ stations that changed
#: how a station differs from plan ``a`` to plan ``b``
STATION_CHANGES: tuple[str, ...] = ("added", "closed", "relocated")


def station_changes(stations_a: gpd.GeoDataFrame, stations_b: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The stations open in one plan and not the other, and those open in both at another point.

    Parameters
    ----------
    stations_a, stations_b : GeoDataFrame
        Each plan's stations (``station_id``, ``name``, points in EPSG:4326); rows with a ``status``
        other than ``open`` count as not open.

    Returns
    -------
    GeoDataFrame
        ``station_id``, ``name``, ``change`` (one of :data:`STATION_CHANGES`), ``lon_a``/``lat_a`` (the
        point in plan a, NaN for an added station) and ``lon_b``/``lat_b``; the geometry is the point
        in plan b (plan a for a closed station), EPSG:4326. Inputs are not mutated.
    """
    layers = diff.station_changes(stations_a, stations_b)  # the one definition of a change
    parts = []
    for change in STATION_CHANGES:
        frame = getattr(layers, change)
        x, y = frame.geometry.x.to_numpy(), frame.geometry.y.to_numpy()
        nan = np.full(len(frame), np.nan)
        old_x = frame["old_lon"].to_numpy(float) if change == "relocated" else x
        old_y = frame["old_lat"].to_numpy(float) if change == "relocated" else y
        names = frame["name"] if "name" in frame.columns else frame["station_id"]
        parts.append(pd.DataFrame({
            "station_id": frame["station_id"].astype(str).to_numpy(), "name": names.astype(str).to_numpy(),
            "change": change,
            "lon_a": nan if change == "added" else old_x, "lat_a": nan if change == "added" else old_y,
            "lon_b": nan if change == "closed" else x, "lat_b": nan if change == "closed" else y,
            "lon": x, "lat": y}))
    frame = pd.concat(parts, ignore_index=True)
    geometry = gpd.points_from_xy(frame["lon"], frame["lat"], crs="EPSG:4326")
    return gpd.GeoDataFrame(frame.drop(columns=["lon", "lat"]), geometry=geometry, crs="EPSG:4326")


def _open_points(stations: gpd.GeoDataFrame) -> pd.DataFrame:
    frame = stations
    if "status" in frame.columns:
        frame = frame[frame["status"].astype(str) == "open"]
    names = frame["name"] if "name" in frame.columns else frame["station_id"]
    return pd.DataFrame({"name": names.astype(str).to_numpy(), "lon": frame.geometry.x.to_numpy(),
                         "lat": frame.geometry.y.to_numpy()},
                        index=pd.Index(frame["station_id"].astype(str).to_numpy(), name="station_id"))


# ------------------------------------------------------------------------------ tables for people
#: the long comparison table's columns (``comparison.csv``): one row for the total, each area and group
TABLE_COLUMNS: tuple[str, ...] = ("level", "code", "name", *COMPARE_COLUMNS)
#: the Chinese label of each action kind
ACTION_LABELS_ZH: dict[str, str] = {"add": "新增站点", "close": "关闭站点", "relocate": "迁址",
                                    "hours": "调整开放时间", "amenities": "调整设施"}
TOTAL_NAME_ZH = "全部"


def comparison_table(cmp: Comparison) -> pd.DataFrame:
    """The comparison as one long table (:data:`TABLE_COLUMNS`): ``level`` is ``total``, ``area`` or
    ``group``; ``code``/``name`` the area code and name (:func:`geo.study.area_label`) or the group code
    and its Chinese label. Every
    figure is the one of :attr:`Comparison.summary`, ``by_area`` and ``by_group`` unchanged."""
    labels = {g.code: g.label_zh for g in worker_groups()}
    total = {"level": "total", "code": "all", "name": TOTAL_NAME_ZH,
             **{c: cmp.summary[c] for c in COMPARE_COLUMNS}}
    names = cmp.by_area.get("area_name", cmp.by_area["area_code"])
    areas = cmp.by_area.assign(level="area", code=cmp.by_area["area_code"].astype(str),
                               name=[area_label(c, n) for c, n in zip(cmp.by_area["area_code"], names,
                                                                      strict=True)])
    groups = cmp.by_group.assign(level="group", code=cmp.by_group["group"].astype(str),
                                 name=[labels.get(str(g), str(g)) for g in cmp.by_group["group"]])
    parts = [pd.DataFrame([total]), areas, groups]
    return pd.concat([p[list(TABLE_COLUMNS)] for p in parts if len(p)], ignore_index=True)


def summary_rows(cmp: Comparison, plans: tuple[Scenario, Scenario]) -> list[list[str]]:
    """The side-by-side summary: one row per figure, columns figure, plan a, plan b, b − a (text)."""
    s = cmp.summary

    def diff(x: Any, y: Any, spec: str, scale: float = 1.0) -> str:
        return "—" if x is None or y is None else num_text(scale * (float(y) - float(x)), "+" + spec)

    covered = [None if s["demand"] is None else float(s["demand"] or 0) * float(s[k] or 0)
               for k in ("covered_share_a", "covered_share_b")]
    return [
        ["需求总量（劳动者）", num_text(s["demand"], ".1f"), num_text(s["demand"], ".1f"), ""],
        ["覆盖率", pct_text(s["covered_share_a"]), pct_text(s["covered_share_b"]),
         diff(s["covered_share_a"], s["covered_share_b"], ".1f", 100) + " 个百分点"],
        ["已覆盖劳动者", num_text(covered[0], ".1f"), num_text(covered[1], ".1f"),
         diff(covered[0], covered[1], ".1f")],
        ["95%出行时间（分钟）", num_text(s["p95_minutes_a"]), num_text(s["p95_minutes_b"]),
         diff(s["p95_minutes_a"], s["p95_minutes_b"], ".1f")],
        ["新增覆盖劳动者", "", num_text(s["gained"], ".1f"), ""],
        ["失去覆盖劳动者", "", num_text(s["lost"], ".1f"), ""],
        ["成本（元）", num_text(s["cost_a"], ",.0f"), num_text(s["cost_b"], ",.0f"),
         diff(s["cost_a"], s["cost_b"], ",.0f")],
        ["追加成本 ÷ 净增覆盖劳动者（元）", "", num_text(s["cost_per_gained"], ",.0f"), ""],
        ["动作数", str(len(plans[0].actions)), str(len(plans[1].actions)), ""],
    ]


def phase_rows(plans: tuple[Scenario, Scenario]) -> list[list[str]]:
    """Cost by phase (and year) of both plans: phase, year, cost a, cost b (yuan, text)."""
    frames = [p.cost_by_phase() for p in plans]
    keys = sorted({(int(r.phase), None if pd.isna(r.year) else int(r.year))
                   for f in frames for r in f.itertuples(index=False)}, key=lambda k: (k[0], k[1] or 0))
    rows = []
    for phase, year in keys:
        costs = []
        for f in frames:
            part = f[(f["phase"] == phase) & (f["year"].isna() if year is None else f["year"] == year)]
            costs.append(num_text(float(part["cost"].sum()), ",.0f") if len(part) else "—")
        rows.append([f"第 {phase} 期", "—" if year is None else str(year), *costs])
    return rows


def figure_rows(table: pd.DataFrame) -> list[list[str]]:
    """Rows of :func:`comparison_table` (one level) as text: name, demand, covered share a and b, p95
    minutes a and b, workers gained, lost and net."""
    return [[str(r.name), num_text(r.demand, ".1f"), pct_text(r.covered_share_a), pct_text(r.covered_share_b),
             num_text(r.p95_minutes_a), num_text(r.p95_minutes_b), num_text(r.gained, ".1f"),
             num_text(r.lost, ".1f"), num_text(r.net_gain, "+.1f")]
            for r in table.itertuples(index=False)]


#: headers of :func:`figure_rows` (the first is the area or the group)
FIGURE_HEADERS: tuple[str, ...] = (
    "需求", "覆盖率（{a}）", "覆盖率（{b}）", "95%时间（{a}）", "95%时间（{b}）",
    "新增覆盖", "失去覆盖", "净增")


def actions_table(plan: Scenario, stations: gpd.GeoDataFrame, *, mode: str = "walk") -> pd.DataFrame:
    """A plan's actions for people: ``seq``, ``action`` (Chinese), ``station`` (id or new name), ``phase``,
    ``year``, ``cost``, ``lon_gcj``/``lat_gcj`` (GCJ-02, for Amap; the station's point in ``stations``
    for actions on an existing station) and ``amap_url`` (empty without a point)."""
    points = _open_points(stations.assign(status="open")).to_dict("index") if len(stations) else {}
    rows = []
    for a in plan.actions:
        known = points.get(str(a.station_id)) if a.kind != "add" else None
        lon, lat = (a.lon, a.lat) if a.lon is not None or known is None else (known["lon"], known["lat"])
        label = a.name or (f"{known['name']}（{a.station_id}）" if known else a.station_id)
        label = label or f"新增站点 {a.seq}"
        glon, glat = (np.nan, np.nan) if lon is None or lat is None else wgs84_to_gcj02(float(lon),
                                                                                        float(lat))
        rows.append({"seq": a.seq, "action": ACTION_LABELS_ZH.get(a.kind, a.kind), "station": str(label),
                     "phase": a.phase, "year": a.year, "cost": a.cost, "lon_gcj": glon, "lat_gcj": glat,
                     "amap_url": "" if lon is None else amap_url(glon, glat, str(label), mode)})
    return pd.DataFrame(rows, columns=["seq", "action", "station", "phase", "year", "cost", "lon_gcj",
                                       "lat_gcj", "amap_url"])


# ------------------------------------------------------------------------------ two plans, evaluated
@dataclass(frozen=True, eq=False)
class PlanComparison:
    """Two stored plans evaluated on the same network, demand and areas, and compared.

    Attributes
    ----------
    plans : (Scenario, Scenario)
    stations : (GeoDataFrame, GeoDataFrame)
        Each plan's stations (base with its actions applied; closed ones kept with ``status="closed"``).
    results : (CoverageResult, CoverageResult)
    comparison : Comparison
    changes : GeoDataFrame
        :func:`station_changes` from plan a to plan b.
    minutes : float
    mode : str
        The travel mode of the network (for the Amap links).
    """

    plans: tuple[Scenario, Scenario]
    stations: tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]
    results: tuple[CoverageResult, CoverageResult]
    comparison: Comparison
    changes: gpd.GeoDataFrame
    minutes: float
    mode: str = "walk"

    @property
    def names(self) -> tuple[str, str]:
        return self.plans[0].name, self.plans[1].name


def compare_plans(
    plans: tuple[Scenario, Scenario], bases: tuple[gpd.GeoDataFrame, gpd.GeoDataFrame], network: Network,
    demand: gpd.GeoDataFrame, *, minutes: float, areas: gpd.GeoDataFrame | None = None, mode: str = "walk",
) -> PlanComparison:
    """Evaluate both plans (each base with its actions applied; inputs EPSG:4326, not mutated) with
    :func:`geo.scenario.evaluate.evaluate_scenario` (the evaluation the API serves) on the same demand
    and compare them, plan a → plan b."""
    from geo.scenario.evaluate import evaluate_scenario

    stations = (apply_actions(bases[0], plans[0]), apply_actions(bases[1], plans[1]))
    results = (evaluate_scenario(network, bases[0], plans[0], demand, minutes=minutes, areas=areas),
               evaluate_scenario(network, bases[1], plans[1], demand, minutes=minutes, areas=areas))
    cmp = compare_results(*results, cost_a=plans[0].total_cost, cost_b=plans[1].total_cost)
    return PlanComparison(plans, stations, results, cmp, station_changes(*stations), float(minutes), mode)


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table (``|`` in cells escaped)."""
    def cell(v: object) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(h) for h in headers) + " |", "|" + "---|" * len(headers)]
    return "\n".join([*lines, *("| " + " | ".join(cell(v) for v in row) + " |" for row in rows)])


def comparison_markdown(pc: PlanComparison, *, level: str = "##") -> str:
    """The 方案比较 section of ``report.md``: the same tables as the comparison PDF."""
    a, b = pc.names
    table = comparison_table(pc.comparison)
    figures = [h.format(a=a, b=b) for h in FIGURE_HEADERS]
    parts = [f"{level} 方案比较：{a} 与 {b}", "",
             f"两个方案在同一路网、同一需求点上按 {pc.minutes:g} 分钟服务圈计算；"
             f"“新增/失去覆盖”为从 {a} 到 {b}。",
             "", markdown_table(["指标", a, b, f"差（{b}−{a}）"], summary_rows(pc.comparison, pc.plans)), ""]
    if phases := phase_rows(pc.plans):
        parts += [f"{level}# 分期成本", "", markdown_table(["阶段", "年份", a, b], phases), ""]
    parts += [f"{level}# 分街道/乡镇", "",
              markdown_table(["街道/乡镇", *figures], figure_rows(table[table["level"] == "area"])), "",
              f"{level}# 分劳动者群体", "",
              markdown_table(["群体", *figures], figure_rows(table[table["level"] == "group"])), ""]
    for plan, stations in zip(pc.plans, pc.stations, strict=True):
        acts = actions_table(plan, stations, mode=pc.mode)
        parts += [f"{level}# {plan.name} 的动作（坐标为 GCJ-02）", ""]
        rows = action_rows(acts, link=lambda url: f"[高德地图]({url})")
        parts += [markdown_table(ACTION_HEADERS, rows) if rows else "（无动作：即基础站点）", ""]
    return "\n".join(parts)


#: headers of :func:`action_rows`
ACTION_HEADERS: tuple[str, ...] = (
    "序号", "动作", "站点", "阶段", "年份", "成本（元）", "经度", "纬度", "导航")


def action_rows(acts: pd.DataFrame, *, link: Any) -> list[list[object]]:
    """:func:`actions_table` rows as text; ``link(url)`` renders the Amap link (Markdown or HTML)."""
    return [[int(r.seq), r.action, r.station, int(r.phase), "—" if pd.isna(r.year) else int(r.year),
             num_text(r.cost, ",.0f"), num_text(r.lon_gcj, ".6f"), num_text(r.lat_gcj, ".6f"),
             link(r.amap_url) if r.amap_url else "—"] for r in acts.itertuples(index=False)]
