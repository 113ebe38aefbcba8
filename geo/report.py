"""The files of a study report for any area: tables (CSV + XLSX), gaps and proposals (GeoJSON, CSV)
and the Chinese Markdown report, from a :class:`geo.study.StudyResult`.

``yizhan report`` (a planner's own area) and ``yizhan demo`` (the bundled sample) both write through
here; the maps are added by the command (``geo`` draws no maps). Every file is written to a
temporary name and renamed, so a failed run leaves no half-written file. All geometries EPSG:4326;
proposals can be exported in GCJ-02 or BD-09 (``crs``) with an Amap navigation link per site.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.checks import check_lang
from geo.errors import InputError
from geo.network import Network
from geo.siting.result import proposals_table
from geo.study import StudyResult, nonempty_areas, study_report_markdown

log = logging.getLogger(__name__)

WHOLE_AREA_CODE = "all"
#: what a report calls its area when it has neither a title nor named areas
UNNAMED_PLACE = "本区域"
#: CSV/XLSX headers in Chinese (``lang="zh"``); columns not listed keep their name
HEADERS_ZH: dict[str, str] = {
    "area_code": "区域代码", "area_name": "区域名称", "mode": "出行方式", "group": "劳动者群体",
    "group_label": "群体名称", "demand_count": "需求点数", "demand_total": "需求总量",
    "demand_covered": "已覆盖需求", "covered_share": "覆盖率", "uncovered": "未覆盖需求",
    "unreachable": "不可达需求", "unsnappable": "无法接入路网", "mean_minutes": "平均时间(分钟)",
    "median_minutes": "中位时间(分钟)", "p95_minutes": "95%时间(分钟)", "stations": "站点数",
    "order": "建设顺序", "candidate_id": "候选编号", "name": "依托场所", "host_type": "场所类型",
    "cost": "成本", "lon": "经度", "lat": "纬度", "gain": "新增覆盖", "gain_share": "新增覆盖占比",
    "cumulative_weight": "累计覆盖需求", "cumulative_share": "累计覆盖率",
    "crs": "坐标系", "amap_url": "高德导航",
    "demand": "需求总量", "gained": "新增覆盖需求", "lost": "失去覆盖需求", "net_gain": "净增覆盖需求",
    "level": "层级", "code": "代码", "seq": "序号", "action": "动作", "station": "站点", "phase": "阶段",
    "year": "年份", "lon_gcj": "经度(GCJ-02)", "lat_gcj": "纬度(GCJ-02)",
}  # fmt: skip
#: the comparison's own headers where they differ from :data:`HEADERS_ZH` (``name`` is an area's or a
#: group's, not a host's)
COMPARISON_HEADERS_ZH: dict[str, str] = {"name": "名称"}
#: coded cells of tables for people that are not in the catalogues (:func:`geo.catalog.code_label_zh`)
VALUES_ZH: dict[str, dict[str, str]] = {"level": {"total": "合计", "area": "区域", "group": "群体"}}
#: per-threshold columns of :func:`geo.coverage.cutoff_column` (``covered_share_2nd_5min``) and the
#: N-th station columns of the demand points (``minutes_2nd``, ``station_2nd``)
_CUTOFF_COLUMN = re.compile(r"^(demand_covered|covered_share)(?:_(\d+)(?:st|nd|rd|th))?_([0-9.]+)min$")
_NTH_COLUMN = re.compile(r"^(minutes|station)_(\d+)(?:st|nd|rd|th)$")
#: a figure of plan a or b of a comparison (``covered_share_a``)
_PLAN_COLUMN = re.compile(r"^(.+)_([ab])$")


def header_zh(column: str) -> str:
    """The Chinese header of one column: :data:`HEADERS_ZH`, or for a per-threshold column
    ``覆盖率(5分钟)``, with a rank N ``2站覆盖率(5分钟)`` (share of demand with N stations within
    5 minutes), ``到第2近站点(分钟)``; a figure of plan a or b ``覆盖率(方案甲)``, ``(方案乙)``; else the
    name itself."""
    if column in HEADERS_ZH:
        return HEADERS_ZH[column]
    cut = _CUTOFF_COLUMN.match(column)
    if cut:
        what, rank, minutes = cut.groups()
        label = HEADERS_ZH[what] if rank is None else f"{rank}站{HEADERS_ZH[what].removeprefix('已')}"
        return f"{label}({minutes}分钟)"
    nth = _NTH_COLUMN.match(column)
    if nth:
        what, rank = nth.groups()
        return f"到第{rank}近站点(分钟)" if what == "minutes" else f"第{rank}近站点"
    plan = _PLAN_COLUMN.match(column)
    if plan and plan.group(1) in HEADERS_ZH:
        return f"{HEADERS_ZH[plan.group(1)]}(方案{'甲' if plan.group(2) == 'a' else '乙'})"
    return column


def for_people(frame: pd.DataFrame, lang: str, *, names: Mapping[str, str] | None = None) -> pd.DataFrame:
    """A table as people read it in ``lang``: in ``zh`` the coded cells (travel mode, worker group, host
    type, :data:`VALUES_ZH`) as their Chinese labels and the headers of :func:`header_zh` (``names``
    first); in ``en`` ``frame`` as it is (codes and column names, as ``--json`` gives them)."""
    if check_lang(lang) != "zh":
        return frame
    from geo.catalog import LABELLED_COLUMNS, code_label_zh

    table = pd.DataFrame(frame).copy()
    for col in table.columns:
        if col in LABELLED_COLUMNS:
            table[col] = table[col].map(lambda v, c=col: code_label_zh(c, v))
        elif col in VALUES_ZH:
            table[col] = table[col].map(lambda v, c=col: VALUES_ZH[c].get(v, v) if isinstance(v, str) else v)
    extra = dict(names or {})
    return table.rename(columns=lambda c: extra.get(c) or header_zh(c))


def _atomic(path: Path, write: Callable[[Path], Any]) -> Path:
    """Call ``write(tmp)`` on a temporary sibling of ``path`` (same suffix), then rename it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}{path.suffix}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def write_table(frame: pd.DataFrame, out: Path, stem: str, *, lang: str = "zh") -> list[Path]:
    """``out/stem.csv`` (UTF-8 with BOM, opens in Excel) and ``out/stem.xlsx``, in ``lang`` (headers and
    coded cells, :func:`for_people`)."""
    from geo.text import write_csv, write_xlsx  # formulas neutralised, written atomically

    table = for_people(pd.DataFrame(frame), lang)
    return [write_csv(table, out / f"{stem}.csv"), write_xlsx({"Sheet1": table}, out / f"{stem}.xlsx")]


def write_geojson(gdf: gpd.GeoDataFrame, path: Path) -> Path:
    """A GeoDataFrame as GeoJSON (EPSG:4326); list/dict cells become JSON text."""
    frame = gdf.copy()
    for col in frame.columns:
        if col != frame.geometry.name and frame[col].dtype == object:
            frame[col] = frame[col].map(lambda v: json.dumps(v, ensure_ascii=False)
                                        if isinstance(v, list | dict | tuple) else v)
    return _atomic(path, lambda p: frame.to_file(p, driver="GeoJSON"))


def whole_area(
    name: str, geometries: Iterable[gpd.GeoSeries], *, buffer_meters: float = 200.0
) -> gpd.GeoDataFrame:
    """One area (code ``all``) around every given geometry: the convex hull, buffered, EPSG:4326.

    Used when no boundaries are given, so that the per-area table has one row for the whole area.
    """
    parts = [g.to_crs(4326) if g.crs is not None else g for g in geometries if len(g)]
    if not parts:
        raise InputError("no geometry to draw the whole area around", field="areas")
    hull = shapely.union_all([shapely.convex_hull(shapely.union_all(p.values)) for p in parts])
    shape = gpd.GeoSeries([shapely.convex_hull(hull)], crs=4326)
    utm = shape.estimate_utm_crs()
    polygon = shape.to_crs(utm).buffer(buffer_meters).to_crs(4326).iloc[0]
    return gpd.GeoDataFrame(
        {"area_code": [WHOLE_AREA_CODE], "area_name": [name], "level": ["county"], "parent_code": [None]},
        geometry=[shapely.MultiPolygon([polygon])], crs=4326,
    )


def area_title(areas: gpd.GeoDataFrame | None, fallback: str = UNNAMED_PLACE) -> str:
    """The heading of a report: the areas' name (one area: its name; several: the first ones), else
    ``fallback`` (:data:`UNNAMED_PLACE`; never a file's name)."""
    if areas is None or len(areas) == 0:
        return fallback
    names = [str(n) for n in areas["area_name"].dropna().astype(str) if str(n).strip()]
    names = [n for n in dict.fromkeys(names)]
    if not names:
        return fallback
    return "、".join(names) if len(names) <= 3 else f"{'、'.join(names[:3])}等{len(names)}个区域"


def write_proposals(
    result: StudyResult, out: Path, *, crs: str = "wgs84", lang: str = "zh"
) -> list[Path]:
    """``proposals.geojson`` (EPSG:4326, as GeoJSON requires) and ``proposals.csv`` in ``crs``."""
    assert result.siting is not None
    sel = result.siting.selected
    table = for_people(proposals_table(sel, crs=crs, mode=result.siting_mode), lang)
    geo_path = write_geojson(sel, out / "proposals.geojson")
    from geo.text import write_csv  # formulas neutralised, written atomically

    return [geo_path, write_csv(table, out / "proposals.csv")]


def write_study(
    result: StudyResult, out: Path, *, place: str, title: str | None = None,
    notes: Sequence[str] = (), crs: str = "wgs84", lang: str = "zh", appendix: str = "",
) -> list[Path]:
    """Every file of the report except the maps; returns the paths written.

    ``appendix`` (Markdown, e.g. a comparison of scenarios) is added to ``report.md`` after the study.

    ``coverage_by_area``/``coverage_by_group`` (CSV + XLSX, one row per area or group and mode; with
    several thresholds a ``covered_share_<T>min`` column for each),
    ``gaps_<mode>.geojson``, ``proposals.geojson``/``.csv`` when the study sited stations, and
    ``report.md`` (Chinese) headed with ``title`` (default: the report title on ``place``).
    """
    check_lang(lang)
    out.mkdir(parents=True, exist_ok=True)
    by_area = pd.concat([nonempty_areas(ms.by_area).assign(mode=m) for m, ms in result.modes.items()])
    by_group = pd.concat([ms.by_group.assign(mode=m) for m, ms in result.modes.items()])
    written = write_table(by_area, out, "coverage_by_area", lang=lang)
    written += write_table(by_group, out, "coverage_by_group", lang=lang)
    for mode, ms in result.modes.items():
        written.append(write_geojson(ms.gaps, out / f"gaps_{mode}.geojson"))
    if result.siting is not None:
        written += write_proposals(result, out, crs=crs, lang=lang)
    heading = title or f"{place}十五分钟工会服务圈评估报告"
    text = study_report_markdown(result, title=heading, place=place, notes=tuple(notes), crs=crs)
    text += f"\n{appendix}" if appendix else ""
    written.append(_atomic(out / "report.md", lambda p: p.write_text(text, encoding="utf-8")))
    log.info("report: %d files in %s", len(written), out)
    return written


def stations_off_network(
    networks: Mapping[str, Network], stations: gpd.GeoDataFrame, *, max_meters: float = 300.0
) -> list[str]:
    """Names (else ids) of the stations farther than ``max_meters`` from every network.

    Raises
    ------
    InputError
        ``field="stations"`` when no station is near any network (the stations' area has no
        network here), naming the first stations.
    """
    if len(stations) == 0:
        return []
    lon, lat = stations.geometry.x.to_numpy(), stations.geometry.y.to_numpy()
    near = np.zeros(len(stations), dtype=bool)
    for net in networks.values():
        near |= net.snap(lon, lat, max_meters=max_meters).snapped
    label = stations["name"] if "name" in stations.columns else stations.index.to_series()
    off = [str(v) for v in label[~near]]
    if off and not near.any():
        shown = "、".join(off[:10]) + ("…" if len(off) > 10 else "")
        modes = ", ".join(networks)
        raise InputError(
            f"no station is within {max_meters:g} m of the {modes} network, so the network does not "
            f"cover the stations' area ({len(off)} outside: {shown}); build a network of that area "
            "with `yizhan network build --osm AREA.osm --out walk.npz`", field="stations",
        )
    return off


def stations_apart_from_demand(
    networks: Mapping[str, Network], stations: gpd.GeoDataFrame, demand: gpd.GeoDataFrame, *,
    max_meters: float = 300.0,
) -> dict[str, list[str]]:
    """Per mode, names (else ids) of the open stations that join the network on a piece where no demand
    point joins: they reach no worker at any travel time (a station on a small island of the OSM
    network, say), although they are counted among the stations. Both frames in EPSG:4326; stations
    farther than ``max_meters`` from the network are :func:`stations_off_network`'s."""
    frame = _open(stations)
    if len(frame) == 0:
        return {}
    label = (frame["name"] if "name" in frame.columns else frame.index.to_series()).astype(str).to_numpy()
    sx, sy = frame.geometry.x.to_numpy(), frame.geometry.y.to_numpy()
    dx, dy = demand.geometry.x.to_numpy(), demand.geometry.y.to_numpy()
    apart: dict[str, list[str]] = {}
    for mode, net in networks.items():
        at = net.snap(sx, sy, max_meters=max_meters).piece
        pieces = np.unique(net.snap(dx, dy, max_meters=max_meters).piece)
        alone = (at >= 0) & ~np.isin(at, pieces)
        if alone.any():
            apart[mode] = [str(v) for v in label[alone]]
    return apart


def _open(stations: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    if "status" not in stations.columns:
        return stations
    return stations[stations["status"].astype(str).str.strip().str.lower() == "open"]


def _no_amenity_data(value: Any) -> bool:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return True
    if isinstance(value, str):
        return not value.strip() or value.strip() in ("[]", "{}")
    try:
        return len(value) == 0
    except TypeError:
        return False


def amenity_unknown(stations: gpd.GeoDataFrame, *, open_only: bool = True) -> list[str]:
    """Names (else ids) of the stations with no amenity data at all (the column empty or missing).

    Under an amenity filter these are *unknown*, not known to lack the amenity: the commands and
    the API report them beside the figures (the filter itself still leaves them out).
    """
    if len(stations) == 0:
        return []
    frame = _open(stations) if open_only else stations
    if "amenities" not in frame.columns:
        unknown = np.ones(len(frame), dtype=bool)
    else:
        unknown = np.array([_no_amenity_data(v) for v in frame["amenities"]], dtype=bool)
    label = frame["name"] if "name" in frame.columns else frame.index.to_series()
    return [str(v) for v in label[unknown]]
