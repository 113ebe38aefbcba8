"""Two plans side by side as an A4 PDF in Chinese (``yizhan scenario compare … --pdf``) and as the
方案比较 section of the report PDF (``yizhan report … --scenario A --scenario B``).

The tables are those of :mod:`geo.scenario.compare` (the same rows as ``report.md``), the map of the
difference is drawn offline by :func:`maps.static.static_map_png`, and the page layout (header, page
numbers, date, sources and licences last) is :func:`maps.report_pdf.page_html`: one layout for every
PDF. Every user string (scenario and station names) is escaped.
"""

from __future__ import annotations

import html
import logging
from pathlib import Path

import geopandas as gpd

from geo.network import Network
from geo.scenario.compare import (
    ACTION_HEADERS,
    FIGURE_HEADERS,
    PlanComparison,
    action_rows,
    actions_table,
    comparison_table,
    figure_rows,
    phase_rows,
    summary_rows,
)
from maps.report_pdf import Raw, ReportMeta, html_table, image_html, page_html, write_pdf
from maps.static import static_map_png

log = logging.getLogger(__name__)


def _e(value: object) -> str:
    return html.escape(str(value))


def _link(url: str) -> Raw:
    return Raw(f'<a href="{_e(url)}">高德地图</a>')


def difference_map_png(pc: PlanComparison, network: Network | None, *,
                       areas: gpd.GeoDataFrame | None = None) -> bytes:
    """The map of the difference: stations added, closed and relocated from plan a to plan b, the
    stations open in both, the demand points that gain or lose coverage, 街道 boundaries and names."""
    changed_ids = set(pc.changes["station_id"].astype(str))
    both = pc.stations[1]
    if "status" in both.columns:
        both = both[both["status"].astype(str) == "open"]
    both = both[~both["station_id"].astype(str).isin(changed_ids)]
    a, b = pc.names
    return static_map_png(network, stations=both, areas=areas, changed_demand=pc.comparison.changed,
                          station_changes=pc.changes, title=f"{a} → {b}：{pc.minutes:g} 分钟服务圈的变化")


def comparison_sections(pc: PlanComparison, network: Network | None, *, areas: gpd.GeoDataFrame | None = None,
                        heading: str = "h2", number: str = "") -> list[str]:
    """The comparison as HTML sections (escaped): summary side by side, cost by phase, the map of the
    difference, per 街道/乡镇 and per worker group, and each plan's actions with GCJ-02 coordinates and
    Amap links. ``heading`` is the level of the section title (``h2``; sub-titles one level below) and
    ``number`` its number in a report (e.g. ``六、``)."""
    sub = f"h{int(heading[1:]) + 1}"
    a, b = (_e(n) for n in pc.names)
    table = comparison_table(pc.comparison)
    figures = [h.format(a=pc.names[0], b=pc.names[1]) for h in FIGURE_HEADERS]
    parts = [
        f"<{heading}>{_e(number)}方案比较：{a} 与 {b}</{heading}>",
        f"<p>两个方案在同一路网、同一需求点上按 {pc.minutes:g} 分钟服务圈计算；"
        f"“新增/失去覆盖”为从 {a} 到 {b}。</p>",
        html_table(["指标", pc.names[0], pc.names[1], f"差（{pc.names[1]}−{pc.names[0]}）"],
                   summary_rows(pc.comparison, pc.plans)),
    ]
    if phases := phase_rows(pc.plans):
        parts += [f"<{sub}>分期成本（元）</{sub}>", html_table(["阶段", "年份", *pc.names], phases)]
    png = difference_map_png(pc, network, areas=areas)
    parts += [f"<{sub}>变化地图</{sub}>", f'<section class="figure">{image_html(png, "变化地图")}</section>',
              f"<{sub}>分街道/乡镇</{sub}>",
              html_table(["街道/乡镇", *figures], figure_rows(table[table["level"] == "area"]),
                         cls="wide areas"),
              f"<{sub}>分劳动者群体</{sub}>",
              html_table(["群体", *figures], figure_rows(table[table["level"] == "group"]), cls="wide")]
    for plan, stations in zip(pc.plans, pc.stations, strict=True):
        rows = action_rows(actions_table(plan, stations, mode=pc.mode), link=_link)
        parts.append(f"<{sub}>{_e(plan.name)} 的动作（坐标为 GCJ-02，高德地图可用）</{sub}>")
        parts.append(html_table(ACTION_HEADERS, rows, cls="wide actions") if rows
                     else "<p>（无动作：即基础站点。）</p>")
    return parts


def write_comparison_pdf(pc: PlanComparison, out: Path, *, network: Network | None,
                         areas: gpd.GeoDataFrame | None = None, meta: ReportMeta | None = None) -> Path:
    """Write the comparison of two plans as an A4 PDF ``out`` (temporary file, renamed)."""
    from geo.report import area_title

    a, b = pc.names
    meta = meta or ReportMeta(title=f"工会驿站方案比较：{a} 与 {b}")
    place = meta.place or (area_title(areas, "") if areas is not None else "")  # else the areas' name
    head = [f"<h1>{_e(meta.title)}</h1>",
            f'<p class="meta">范围：{_e(place or "（未指定）")}　日期：{meta.date.isoformat()}　'
            f"服务圈阈值：{pc.minutes:g} 分钟</p>"]
    sections = comparison_sections(pc, network, areas=areas)
    return write_pdf(page_html(meta, [*head, *sections], notes=meta.notes), out)
