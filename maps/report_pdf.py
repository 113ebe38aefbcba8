"""The committee's report as an A4 PDF in Chinese: headline numbers, static maps, the per-area and
per-group tables, the biggest gaps and the proposals (GCJ-02 coordinates and Amap links), with page
numbers, the date, and the data sources and their licences on the last page.

HTML is rendered to PDF by WeasyPrint; maps are drawn offline by :mod:`maps.static`; every user
string is escaped. The input is a :class:`geo.study.StudyResult` (what ``yizhan report`` and
``yizhan demo`` compute) and the PDF is written to a temporary file and renamed.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from geo.amap import amap_url_wgs84
from geo.catalog import code_label_zh, travel_modes
from geo.crs import wgs84_to_gcj02
from geo.siting import SitingResult
from geo.study import StudyResult, area_label, nonempty_areas, num_text, pct_text
from maps.static import cjk_font, static_map_png

log = logging.getLogger(__name__)

#: the sources every report cites on its last page; callers add their own (station lists, demand files)
DEFAULT_SOURCES: tuple[str, ...] = (
    "道路网络：OpenStreetMap（© OpenStreetMap contributors），开放数据库许可 ODbL 1.0 "
    "（https://www.openstreetmap.org/copyright）。",
    "坐标：存储为 WGS-84；高德/腾讯坐标（GCJ-02）与百度坐标（BD-09）在导入时转换，"
    "表中 GCJ-02 坐标供高德地图使用。",
    "计算：yizhan 驿站（开源），出行时间按真实路网计算，见 docs/TRAVEL_TIME.md。",
)


@dataclass(frozen=True)
class ReportMeta:
    """What the report says about itself: title, place, date, notes and sources (plain text, escaped
    when rendered)."""

    title: str = "十五分钟工会服务圈评估报告"
    place: str = ""
    date: dt.date = field(default_factory=dt.date.today)
    notes: tuple[str, ...] = ()
    sources: tuple[str, ...] = DEFAULT_SOURCES


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value))


def css_string(text: str) -> str:
    """``text`` for a double-quoted CSS string inside ``<style>`` (where HTML entities are not read):
    quotes, backslashes, angle brackets, ampersands and control characters as CSS escapes."""
    return "".join(f"\\{ord(c):x} " if c in '"\\<>&' or ord(c) < 0x20 else c for c in text)


def html_table(headers: Sequence[str], rows: Sequence[Sequence[object]], *, cls: str = "") -> str:
    """An escaped HTML table (cells may carry pre-built ``<a>`` links when wrapped in :class:`Raw`)."""
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{c.html if isinstance(c, Raw) else _e(c)}</td>" for c in row) + "</tr>"
        for row in rows
    )
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


@dataclass(frozen=True)
class Raw:
    """A cell already rendered as safe HTML (built here from escaped parts)."""

    html: str


def _mode_label(mode: str) -> str:
    spec = travel_modes().get(mode)
    return f"{spec.label_zh}（{spec.speed_kph:g} km/h）" if spec else mode


def _summary_rows(result: StudyResult) -> list[list[object]]:
    rows: list[list[object]] = []
    for mode, ms in result.modes.items():
        s = ms.coverage.summary
        rows.append([_mode_label(mode), num_text(s.demand_total, ".0f"), num_text(s.demand_covered, ".0f"),
                     pct_text(s.covered_share), num_text(s.median_minutes), num_text(s.p95_minutes),
                     num_text(s.unreachable, ".0f"), len(ms.gaps)])
    return rows


def _area_rows(by_area: pd.DataFrame) -> list[list[object]]:
    return [[area_label(r.area_code, r.area_name), num_text(r.demand_total, ".0f"), pct_text(r.covered_share),
             num_text(r.uncovered, ".0f"), num_text(r.unreachable, ".0f"), num_text(r.p95_minutes),
             int(r.stations)]
            for r in nonempty_areas(by_area).itertuples(index=False)]


def _group_rows(by_group: pd.DataFrame) -> list[list[object]]:
    return [[code_label_zh("group", str(r.group)), num_text(r.demand_total, ".0f"),
             pct_text(r.covered_share), num_text(r.uncovered, ".0f"), num_text(r.median_minutes)]
            for r in by_group.itertuples(index=False)]


def _proposal_rows(selected: pd.DataFrame, mode: str) -> list[list[object]]:
    rows: list[list[object]] = []
    for r in selected.itertuples(index=False):
        glon, glat = wgs84_to_gcj02(float(r.lon), float(r.lat))
        url = amap_url_wgs84(float(r.lon), float(r.lat), str(r.name or ""), mode)
        link = Raw(f'<a href="{_e(url)}">高德地图</a>')
        host = code_label_zh("host_type", str(r.host_type))
        rows.append([int(r.order), r.name or "", host, num_text(r.gain, ".1f"),
                     pct_text(r.cumulative_share), f"{glon:.6f}", f"{glat:.6f}", link])
    return rows


def image_html(png: bytes, alt: str) -> str:
    return f'<img class="map" alt="{_e(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def _maps_section(result: StudyResult) -> str:
    parts = []
    for mode, ms in result.modes.items():
        proposals = result.siting.selected if result.siting and mode == result.siting_mode else None
        png = static_map_png(ms.coverage.network, stations=result.stations, demand=ms.coverage.demand,
                             gaps=ms.gaps, proposals=proposals, areas=result.areas,
                             title=f"{_mode_label(mode)} {result.minutes:g} 分钟服务圈")
        parts.append(f'<section class="figure">{image_html(png, mode)}</section>')
    return "".join(parts)


def report_html(result: StudyResult, meta: ReportMeta, *, appendix: Sequence[str] = ()) -> str:
    """The report as one self-contained HTML page (images inlined), ready for WeasyPrint; ``appendix``
    are further sections (trusted HTML built from escaped parts, e.g. the 方案比较 of
    :func:`maps.comparison_pdf.comparison_sections`) placed before the notes."""
    siting_mode = result.siting_mode
    main = result.modes.get(siting_mode) or next(iter(result.modes.values()))
    sr = result.siting
    sections = [
        f"<h1>{_e(meta.title)}</h1>",
        f'<p class="meta">范围：{_e(meta.place or "（未指定）")}　日期：{meta.date.isoformat()}　'
        f"服务圈阈值：{result.minutes:g} 分钟　现有站点：{result.open_stations} 个</p>",
        "<h2>一、覆盖情况</h2>",
        html_table(["出行方式", "需求总量", "已覆盖", "覆盖率", "中位时间(分)", "95%时间(分)", "不可达",
                    "空白数"], _summary_rows(result)),
        "<h2>二、地图</h2>", _maps_section(result),
        f"<h2>三、分街道/乡镇覆盖（{_e(_mode_label(siting_mode))}）</h2>",
        html_table(["街道/乡镇", "需求", "覆盖率", "未覆盖", "不可达", "95%时间(分)", "站点数"],
                   _area_rows(main.coverage.by_area), cls="areas"),
        "<h2>四、分劳动者群体覆盖</h2>",
        html_table(["群体", "需求", "覆盖率", "未覆盖", "中位时间(分)"], _group_rows(main.coverage.by_group)),
    ]
    if sr is not None:
        sections += _proposals_section(sr, siting_mode)
    return page_html(meta, [*sections, *appendix], notes=(*result.notes, *meta.notes))


def _proposals_section(sr: SitingResult, mode: str) -> list[str]:
    return [
        f"<h2>五、新增 {len(sr.selected)} 个站点的建议（按建设顺序）</h2>",
        f"<p>求解：{_e(sr.method)}（{_e(sr.status)}），"
        f"覆盖率 {pct_text(sr.share_before)} → {pct_text(sr.share_after)}；"
        f"证明的上界 {num_text(sr.bound, '.4g')}，间隙 {num_text(sr.gap, '.3g')}。"
        "坐标为 GCJ-02（高德）。</p>",
        html_table(["顺序", "依托场所", "类型", "新增覆盖", "累计覆盖率", "经度", "纬度", "导航"],
                   _proposal_rows(sr.selected, mode), cls="proposals"),
    ]


def page_html(meta: ReportMeta, sections: Sequence[str], *, notes: Sequence[str] = ()) -> str:
    """The one A4 page layout of every PDF (report and comparison): ``sections`` (trusted HTML), then
    the notes and the data sources and licences on a last page of their own; the title in the header,
    page numbers and the date in the footer, the CJK font of :func:`maps.static.cjk_font`."""
    font = cjk_font() or "sans-serif"
    tail = ["<h2>说明</h2><ul>" + "".join(f"<li>{_e(n)}</li>" for n in notes) + "</ul>"] if notes else []
    tail += ['<section class="sources"><h2>数据来源与许可</h2><ul>'
             + "".join(f"<li>{_e(s)}</li>" for s in meta.sources) + "</ul></section>"]
    body = "\n".join([*sections, *tail])
    return f"""<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>{_e(meta.title)}</title>
<style>
@page {{ size: A4; margin: 18mm 15mm 20mm 15mm;
  @bottom-center {{ content: "第 " counter(page) " 页 / 共 " counter(pages) " 页"; font-size: 8pt; }}
  @bottom-right {{ content: "{meta.date.isoformat()}"; font-size: 8pt; }}
  @top-left {{ content: "{css_string(meta.title)}"; font-size: 8pt; color: #666; }} }}
body {{ font-family: "{font}", sans-serif; font-size: 9.5pt; line-height: 1.45; }}
h1 {{ font-size: 18pt; margin: 0 0 4pt; }} h2 {{ font-size: 12.5pt; margin: 14pt 0 5pt; }}
h3 {{ font-size: 10.5pt; margin: 10pt 0 4pt; }} table.wide {{ font-size: 8pt; }}
.meta {{ color: #444; }} table {{ border-collapse: collapse; width: 100%; margin: 4pt 0; }}
th, td {{ border: 0.5pt solid #999; padding: 2pt 4pt; text-align: left; }} th {{ background: #eee; }}
tr {{ break-inside: avoid; }} img.map {{ width: 100%; }} .figure {{ break-inside: avoid; margin: 6pt 0; }}
.sources {{ break-before: page; }} a {{ color: #1565c0; }}
</style></head><body>{body}</body></html>"""


def write_report_pdf(result: StudyResult, out: Path, *, meta: ReportMeta | None = None,
                     appendix: Sequence[str] = ()) -> Path:
    """Render the report of ``result`` (and ``appendix`` sections, see :func:`report_html`) to the PDF
    ``out`` (temporary file, renamed on success)."""
    return write_pdf(report_html(result, meta or ReportMeta(), appendix=appendix), out)


def write_pdf(document: str, out: Path) -> Path:
    """Render an HTML page of :func:`page_html` to the PDF ``out`` with WeasyPrint (temporary file,
    renamed on success, :func:`geo.text.atomic_path`; nothing is left behind on failure)."""
    from weasyprint import HTML

    from geo.text import atomic_path

    out = Path(out)
    with atomic_path(out) as tmp:
        HTML(string=document).write_pdf(tmp)
    log.info("PDF written to %s", out)
    return out

