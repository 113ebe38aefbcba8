"""A whole siting study in one call: coverage per mode, gaps, and a phased siting plan.

This is what ``yizhan demo`` runs and what the notebooks can call: pure ``geo`` over GeoDataFrames
(EPSG:4326), no database and no maps. The inputs are the canonical frames of
``docs/ARCHITECTURE.md``; the result is a frozen :class:`StudyResult` with every number the demo
prints, plus :func:`study_report_markdown`, the short Chinese report a planner reads.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import pandas as pd

from geo.catalog import code_label_zh, mode_speeds_kph
from geo.checks import check_minutes, check_minutes_list
from geo.coverage import (
    OUTSIDE_AREAS,
    CoverageResult,
    CutoffCoverage,
    compute_coverage,
    covered_area,
    cutoff_column,
    cutoffs_of,
)
from geo.crs import CRS_LABELS, convert, resolve_crs
from geo.errors import InputError
from geo.gaps import find_gaps
from geo.network import Network
from geo.siting import SitingResult, plan_sites

log = logging.getLogger(__name__)

#: the clip of the Shenzhen Nanshan sample's dense core (SOURCES.md), degrees EPSG:4326
SHENZHEN_CORE_BBOX: tuple[float, float, float, float] = (113.92, 22.535, 113.97, 22.56)
SHENZHEN_OSM = Path("shenzhen_roadnetworkcreator/shenzhen_nanshan_osm.osm")
SHENZHEN_POIS = Path("shenzhen_roadnetworkcreator/shenzhen_nanshan_osm_pois.geojson")



def mode_label_zh(mode: str) -> str:
    """The Chinese name of a travel mode (``data/modes.toml``), else its code."""
    return str(code_label_zh("mode", mode))


@dataclass(frozen=True, eq=False)
class ModeStudy:
    """Coverage, covered area and gaps of one travel mode (and, with several thresholds, the
    shares at each from the same search)."""

    mode: str
    coverage: CoverageResult
    covered: gpd.GeoDataFrame
    gaps: gpd.GeoDataFrame
    thresholds: CutoffCoverage | None = None

    @property
    def by_area(self) -> pd.DataFrame:
        """The per-area table, with a column per threshold when there are several."""
        return self.coverage.by_area if self.thresholds is None else self.thresholds.by_area

    @property
    def by_group(self) -> pd.DataFrame:
        """The per-group table, with a column per threshold when there are several."""
        return self.coverage.by_group if self.thresholds is None else self.thresholds.by_group


@dataclass(frozen=True, eq=False)
class StudyResult:
    """Everything one study produced (all geometries EPSG:4326).

    Attributes
    ----------
    modes : mapping of mode -> ModeStudy
    siting : SitingResult or None
        New sites for ``siting_mode`` in build order (None when none were asked for).
    siting_mode : str
    minutes : float
        The service threshold T (with several thresholds the largest: siting, gaps and maps use it).
    cutoffs : tuple of float
        Several thresholds measured from the same search (empty: only ``minutes``); each mode's
        :attr:`ModeStudy.thresholds` holds the shares.
    stations, demand, candidates : GeoDataFrame
        The inputs as used.
    areas : GeoDataFrame or None
    """

    modes: Mapping[str, ModeStudy]
    siting: SitingResult | None
    siting_mode: str
    minutes: float
    stations: gpd.GeoDataFrame
    demand: gpd.GeoDataFrame
    candidates: gpd.GeoDataFrame
    areas: gpd.GeoDataFrame | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    cutoffs: tuple[float, ...] = ()

    @property
    def open_stations(self) -> int:
        """The stations the coverage counted (open ones; planned and closed ones are inputs only)."""
        first = next(iter(self.modes.values()), None)
        return int(first.coverage.summary.stations) if first is not None else 0

    def _status_counts(self) -> dict[str, int]:
        """How many of the given stations have each status (all ``open`` when the list has none)."""
        if "status" not in self.stations.columns:
            return {"open": len(self.stations)} if len(self.stations) else {}
        counts = self.stations["status"].fillna("unknown").astype(str).value_counts(sort=False)
        return {str(k): int(v) for k, v in counts.items()}

    def headline(self) -> dict[str, object]:
        """The headline numbers per mode and for the plan (JSON-ready).

        ``stations`` counts the open stations (those the coverage counted, as the report, the PDF and
        ``yizhan coverage`` do); ``stations_listed`` every station given and ``stations_by_status``
        how many of each status.
        """
        out: dict[str, object] = {"minutes": self.minutes, "stations": self.open_stations,
                                  "stations_listed": len(self.stations),
                                  "stations_by_status": self._status_counts()}
        for mode, ms in self.modes.items():
            s = ms.coverage.summary
            out[mode] = {
                "covered_share": s.covered_share,
                "demand_total": s.demand_total,
                "demand_covered": s.demand_covered,
                "uncovered": s.demand_total - s.demand_covered,
                "median_minutes": s.median_minutes,
                "gaps": len(ms.gaps),
            }
            if ms.thresholds is not None:
                out[mode]["cutoffs"] = ms.thresholds.cutoff_dicts()  # type: ignore[index]
        if self.siting is None:
            out["siting"] = None
            return out
        out["siting"] = {
            "mode": self.siting_mode,
            "added": len(self.siting.selected),
            "share_before": self.siting.share_before,
            "share_after": self.siting.share_after,
            "method": self.siting.method,
            "gap": self.siting.gap,
        }
        return out


def run_study(
    networks: Mapping[str, Network],
    stations: gpd.GeoDataFrame,
    demand: gpd.GeoDataFrame,
    candidates: gpd.GeoDataFrame,
    *,
    minutes: float = 15.0,
    cutoffs: Sequence[float] = (),
    add: int = 5,
    siting_mode: str = "walk",
    areas: gpd.GeoDataFrame | None = None,
    resolution: int = 9,
    method: str = "exact",
    time_limit_seconds: float = 60.0,
    progress: Callable[[str], None] | None = None,
) -> StudyResult:
    """Compute coverage and gaps for every mode, then a siting plan of ``add`` new stations.

    Parameters
    ----------
    networks : mapping of mode -> Network
        Travel networks (WGS-84 nodes), e.g. ``{"walk": ..., "ebike": ...}``.
    stations, demand, candidates : GeoDataFrame
        Canonical frames (EPSG:4326). Open stations are fixed in the siting.
    minutes : float
        The service threshold T (default 15, the 十五分钟工会服务圈).
    cutoffs : sequence of float
        Several thresholds (each ≤ ``minutes``) reported from the same search; fewer than two: none.
    add : int
        How many new stations to site (maximal covering, build order by marginal gain); 0: no
        siting (``StudyResult.siting`` is None).
    siting_mode : str
        Which network the siting runs on (must be a key of ``networks``).
    areas : GeoDataFrame, optional
        Township polygons for per-area tables.
    resolution : int
        H3 resolution of the gap hexagons.
    method : {"exact", "greedy"}
        With ``time_limit_seconds`` the HiGHS time limit.
    progress : callable, optional
        Called with a short label before each step (for progress bars).

    Returns
    -------
    StudyResult
    """
    if not networks:
        raise InputError("run_study needs at least one network", field="networks")
    if siting_mode not in networks:
        msg = f"siting_mode {siting_mode!r} has no network; loaded: {', '.join(networks)}"
        raise InputError(msg, field="siting_mode")
    minutes, cuts = _checked_thresholds(minutes, cutoffs)
    if add < 0:
        raise InputError(f"add must be at least 0, got {add}", field="add")
    step = progress or (lambda label: None)

    modes: dict[str, ModeStudy] = {}
    for mode, network in networks.items():
        step(f"coverage {mode}")
        result = compute_coverage(network, stations, demand, minutes=minutes, areas=areas)
        step(f"covered area {mode}")
        covered = covered_area(result)
        step(f"gaps {mode}")
        gaps = find_gaps(result, resolution=resolution, stations=result.stations)
        modes[mode] = ModeStudy(mode=mode, coverage=result, covered=covered, gaps=gaps,
                                thresholds=cutoffs_of(result, cuts) if cuts else None)
        log.info("%s: covered share %.3f", mode, result.summary.covered_share)

    siting = None
    if add > 0:
        step(f"siting {siting_mode}")
        siting = plan_sites(
            networks[siting_mode], stations, demand, candidates, minutes=minutes, add=add, areas=areas,
            method=method, time_limit_seconds=time_limit_seconds,
        )
    return StudyResult(
        modes=modes, siting=siting, siting_mode=siting_mode, minutes=minutes, stations=stations,
        demand=demand, candidates=candidates, areas=areas, cutoffs=cuts,
    )


def _checked_thresholds(minutes: float, cutoffs: Sequence[float]) -> tuple[float, tuple[float, ...]]:
    """``minutes`` and the several thresholds (none when fewer than two), each at most ``minutes``."""
    minutes = check_minutes(minutes)
    cuts = check_minutes_list(cutoffs, field="cutoffs") if len(cutoffs) > 1 else ()
    if cuts and cuts[-1] > minutes:
        raise InputError(f"cutoffs must be at most minutes ({minutes:g}), got {cuts[-1]:g}", field="cutoffs")
    return minutes, cuts


def nonempty_areas(by_area: pd.DataFrame) -> pd.DataFrame:
    """A per-area table without the "(outside areas)" row when nothing lies outside the areas."""
    empty = (by_area["demand_count"] == 0) & (by_area["stations"] == 0)
    empty &= by_area["area_code"] == OUTSIDE_AREAS
    return by_area[~empty.to_numpy()]


#: how report tables name demand that lies in no area
OUTSIDE_AREAS_ZH = "（不在任何街道/乡镇内）"


def area_label(code: str, name: str) -> str:
    """The name a report prints for an area row (the outside-areas row in Chinese)."""
    return OUTSIDE_AREAS_ZH if code == OUTSIDE_AREAS else str(name)


def pct_text(x: float | None) -> str:
    """A share 0–1 as a percentage with one decimal for reports ("—" when unknown)."""
    return "—" if x is None or not math.isfinite(float(x)) else f"{100 * float(x):.1f}%"


def num_text(x: float | None, spec: str = ".1f") -> str:
    """A number for reports in ``spec`` ("—" when unknown)."""
    return "—" if x is None or not math.isfinite(float(x)) else format(float(x), spec)


def _table(frame: pd.DataFrame) -> str:
    cols = [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(str(v) for v in row) + " |")
    return "\n".join(lines)


def study_report_markdown(
    result: StudyResult,
    *,
    title: str = "十五分钟工会服务圈评估报告",
    place: str = "",
    date: dt.date | None = None,
    notes: tuple[str, ...] = (),
    crs: str = "wgs84",
) -> str:
    """A short Markdown report in Chinese with the headline numbers of a study.

    Every number comes from ``result``; ``notes`` are added as 说明 lines (data provenance). The
    proposals' coordinates are in ``crs`` (as in ``proposals.csv``), and the table says which.
    """
    date = date or dt.date.today()
    lines = [f"# {title}", ""]
    if place:
        lines.append(f"**范围**：{place}  ")
    limit = f"{result.minutes:g} 分钟"
    if result.cutoffs:
        limit = f"{'、'.join(f'{t:g}' for t in result.cutoffs)} 分钟（选址与空白按 {result.minutes:g} 分钟）"
    lines += [f"**日期**：{date.isoformat()}  ", f"**服务圈阈值**：{limit}  ",
              f"**现有站点**：{result.open_stations} 个", ""]
    lines += ["## 覆盖情况", ""]
    rows = []
    for mode, ms in result.modes.items():
        s = ms.coverage.summary
        rows.append({
            "出行方式": f"{mode_label_zh(mode)}（{mode_speeds_kph().get(mode, 0):g} km/h）",
            "需求总量": num_text(s.demand_total, ".0f"),
            "已覆盖": num_text(s.demand_covered, ".0f"),
            "覆盖率": pct_text(s.covered_share),
            "中位时间(分钟)": num_text(s.median_minutes),
            "95%时间(分钟)": num_text(s.p95_minutes),
            "不可达": num_text(s.unreachable, ".0f"),
            "无法接入路网": str(s.unsnappable_count),
        })
    lines += [_table(pd.DataFrame(rows)), ""]
    lines += _cutoff_lines(result)

    walk = result.modes.get(result.siting_mode)
    if walk is not None and len(walk.coverage.by_area):
        lines += [f"## 分区域覆盖（{mode_label_zh(result.siting_mode)}）", ""]
        lines += [_table(_area_rows(walk, result.cutoffs)), ""]

    if walk is not None and len(walk.gaps):
        lines += ["## 最大的覆盖空白（H3 六边形）", ""]
        top = walk.gaps.head(5)
        gap_rows = pd.DataFrame({
            "排名": top["rank"].astype(int).astype(str),
            "未覆盖需求": top["uncovered_weight"].map(lambda v: num_text(v, ".1f")),
            "最近站点": top["nearest_station_name"].fillna("").astype(str),
            "到最近站点(分钟)": top["nearest_minutes"].map(num_text),
        })
        lines += [_table(gap_rows), ""]

    sr = result.siting
    if sr is None:
        return _finish(lines, result, notes)
    lines += [
        f"## 新增 {len(sr.selected)} 个站点的建议（按建设顺序）", "",
        f"求解：{sr.method}（{sr.status}），目标值 {sr.objective:.4g}，上界 {sr.bound:.4g}，"
        f"间隙 {sr.gap:.3g}。覆盖率 {pct_text(sr.share_before)} → {pct_text(sr.share_after)}。", "",
    ]
    if len(sr.selected):
        lines += [f"坐标系：{CRS_LABELS[resolve_crs(crs)]}，与 proposals.csv 相同。", "",
                  _table(_proposal_rows(sr.selected, crs)), ""]
    return _finish(lines, result, notes)


def _proposal_rows(selected: gpd.GeoDataFrame, crs: str) -> pd.DataFrame:
    """The report's table of proposals, coordinates in ``crs`` to six decimals (as the PDF prints)."""
    sel = selected
    lon, lat = convert(sel["lon"].to_numpy(float), sel["lat"].to_numpy(float), src="wgs84", dst=crs)
    return pd.DataFrame({
        "顺序": sel["order"].astype(int).astype(str),
        "依托场所": sel["name"].fillna("").astype(str),
        "类型": [str(code_label_zh("host_type", str(v))) for v in sel["host_type"]],
        "新增覆盖": sel["gain"].map(lambda v: num_text(v, ".1f")),
        "累计覆盖率": sel["cumulative_share"].map(pct_text),
        "经度": [f"{v:.6f}" for v in lon],
        "纬度": [f"{v:.6f}" for v in lat],
    })


def _cutoff_lines(result: StudyResult) -> list[str]:
    """With several thresholds: a table of the covered share at each, per mode (else nothing)."""
    if not result.cutoffs:
        return []
    rows = []
    for mode, ms in result.modes.items():
        if ms.thresholds is None:
            continue
        row = {"出行方式": mode_label_zh(mode)}
        row.update({f"{r['minutes']:g}分钟": pct_text(r["covered_share"])
                    for r in ms.thresholds.cutoff_dicts()})
        rows.append(row)
    return ["## 不同时间阈值的覆盖率（同一次路网计算）", "", _table(pd.DataFrame(rows)), ""]


def _area_rows(ms: ModeStudy, cutoffs: tuple[float, ...]) -> pd.DataFrame:
    """The report's per-area table; with several thresholds a share column for each."""
    ba = nonempty_areas(ms.by_area)
    rows = pd.DataFrame({
        "区域": ba["area_name"].astype(str),
        "需求": ba["demand_total"].map(lambda v: num_text(v, ".0f")),
        "覆盖率": ba["covered_share"].map(pct_text),
        "未覆盖": ba["uncovered"].map(lambda v: num_text(v, ".0f")),
        "站点数": ba["stations"].astype(int).astype(str),
    })
    for t in cutoffs:
        rows[f"覆盖率({t:g}分钟)"] = ba[cutoff_column("covered_share", t)].map(pct_text)
    return rows


def _finish(lines: list[str], result: StudyResult, notes: tuple[str, ...]) -> str:
    all_notes = (*result.notes, *notes)
    if all_notes:
        lines += ["## 说明", ""] + [f"- {n}" for n in all_notes] + [""]
    return "\n".join(lines)
