"""全国一张图: counties coloured by covered share, with rollup tables per province and prefecture.

Built from a ``yizhan region coverage`` result folder (:func:`geo.region.read_region_result`). Every
``add_*`` function takes WGS-84 data and an optional map ``m``, adds one layer or box and returns the
map, as in :mod:`maps.coverage`; on Amap (GCJ-02) tiles the polygons are shifted.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import folium
import geopandas as gpd
import pandas as pd
from branca.colormap import LinearColormap

from geo.errors import InputError
from maps.base import (
    HtmlBox,
    base_map,
    ensure_map,
    esc,
    map_tiles_crs,
    require_columns,
    require_geodataframe,
    to_tiles_crs,
)
from maps.coverage import SHARE_COLORS, add_title

__all__ = ["add_counties", "add_rollup_table", "region_map"]

LEVEL_ZH: dict[str, str] = {"province": "省", "prefecture": "地市", "county": "县区"}


def _pct(x: Any) -> str:
    return "" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.1%}"


def add_counties(
    areas: gpd.GeoDataFrame,
    m: folium.Map | None = None,
    *,
    tiles_crs: str | None = None,
    county_link: str | None = None,
    name: str = "县区覆盖率",
) -> folium.Map:
    """Add county polygons coloured by ``covered_share`` (grey without demand), with a tooltip and,
    when ``county_link`` is given (a pattern with ``{code}``), a popup link to the county's planner map.

    Parameters
    ----------
    areas : GeoDataFrame
        EPSG:4326 polygons with ``area_code``, ``name``, ``demand``, ``covered``, ``covered_share``,
        ``p95_minutes`` (the ``areas.parquet`` of a result folder).
    """
    require_geodataframe(areas, what="areas", geom_types=("Polygon", "MultiPolygon"))
    require_columns(areas, ("area_code", "name", "demand", "covered_share", "p95_minutes"), what="areas")
    share = pd.to_numeric(areas["covered_share"], errors="coerce")
    if ((share < 0) | (share > 1)).any():
        raise InputError("covered_share must lie in [0, 1]", field="covered_share")
    m = ensure_map(m)
    cmap = LinearColormap(list(SHARE_COLORS), vmin=0.0, vmax=1.0)
    shown = to_tiles_crs(
        areas[["area_code", "name", "demand", "p95_minutes", areas.geometry.name]],
        map_tiles_crs(m, tiles_crs),
    )
    shown["covered_pct"] = [_pct(s) for s in share]
    shown["demand"] = pd.to_numeric(shown["demand"], errors="coerce").round(1)
    shown["p95_minutes"] = [f"{v:.1f}" if pd.notna(v) else "" for v in shown["p95_minutes"]]
    shown["_fill"] = [cmap(float(s)) if pd.notna(s) else "#cccccc" for s in share]
    fields = ["name", "area_code", "covered_pct", "demand", "p95_minutes"]
    aliases = ["县区", "代码", "覆盖率", "需求", "P95 分钟"]
    popup = None
    if county_link is not None:
        shown["_link"] = [
            f'<a href="{esc(county_link.format(code=c))}" target="_blank">{esc(n)} 规划图 →</a>'
            for c, n in zip(shown["area_code"], shown["name"], strict=True)
        ]
        popup = folium.GeoJsonPopup(fields=["_link"], labels=False)
    folium.GeoJson(
        json.loads(shown.to_json(na="null")),
        name=name,
        style_function=lambda f: {
            "color": "#555",
            "weight": 0.8,
            "fillColor": f["properties"]["_fill"],
            "fillOpacity": 0.6,
        },
        highlight_function=lambda _f: {"weight": 2.5, "fillOpacity": 0.8},
        tooltip=folium.GeoJsonTooltip(fields=fields, aliases=aliases),
        popup=popup,
    ).add_to(m)
    gradient = ", ".join(SHARE_COLORS)
    HtmlBox(
        f'<div><b>覆盖率</b></div><div style="width:160px;height:10px;background:linear-gradient(to right, '
        f'{gradient})"></div><div style="display:flex;justify-content:space-between;width:160px">'
        "<span>0%</span><span>50%</span><span>100%</span></div>",
        position="topright",
        css_class="yz-legend",
    ).add_to(m)
    return m


def add_rollup_table(
    rows: Sequence[Mapping[str, Any]],
    m: folium.Map | None = None,
    *,
    level: str = "province",
    position: str = "bottomleft",
    limit: int = 40,
) -> folium.Map:
    """Add a table of one rollup level (``code``, ``covered_share``, ``demand``, ``p95_minutes``,
    ``areas``), lowest covered share first (the ones to act on), at most ``limit`` rows."""
    if level not in LEVEL_ZH:
        raise InputError(f"level must be one of {', '.join(LEVEL_ZH)}, got {level!r}", field="level")
    m = ensure_map(m)
    ordered = sorted(rows, key=lambda r: (r.get("covered_share") is None, r.get("covered_share") or 0.0))
    body = "".join(
        f"<tr><td>{esc(r.get('code'))}</td><td>{_pct(r.get('covered_share'))}</td>"
        f"<td>{float(r.get('demand') or 0):,.0f}</td><td>{esc(r.get('areas'))}</td>"
        f"<td>{'' if r.get('p95_minutes') is None else format(float(r['p95_minutes']), '.1f')}</td></tr>"
        for r in ordered[:limit]
    )
    more = f"<div>… {len(ordered) - limit} more</div>" if len(ordered) > limit else ""
    content = (
        f"<details open><summary><b>按{LEVEL_ZH[level]}汇总</b> ({len(ordered)})</summary>"
        f'<table class="yz-rollup" data-level="{level}" style="font-size:12px;border-spacing:8px 1px">'
        "<tr><th>代码</th><th>覆盖率</th><th>需求</th><th>县区数</th><th>P95 分钟</th></tr>"
        f"{body}</table>{more}</details>"
    )
    HtmlBox(content, position=position, css_class=f"yz-rollup-{level}").add_to(m)
    return m


def region_map(
    areas: gpd.GeoDataFrame,
    summary: Mapping[str, Any],
    *,
    tiles: str = "osm",
    assets: str = "inline",
    county_link: str | None = None,
) -> folium.Map:
    """The whole 全国一张图: title with the headline share, counties, province and prefecture tables."""
    require_geodataframe(areas, what="areas", geom_types=("Polygon", "MultiPolygon"))
    if len(areas) == 0:
        raise InputError("the result has no areas to draw", field="areas")
    x0, y0, x1, y1 = areas.total_bounds
    m = base_map(center=((x0 + x1) / 2, (y0 + y1) / 2), zoom=9, tiles=tiles, assets=assets)
    share = summary.get("covered_share")
    add_title(
        m,
        covered_share=float(share) if share is not None else 0.0,
        uncovered=float(summary.get("demand", 0.0)) - float(summary.get("covered", 0.0)),
        stations=int(summary.get("stations", {}).get("count", 0)),
        title="工会驿站15分钟服务圈 · 全国一张图",
        subtitle=f"{summary.get('mode', '')} {summary.get('minutes', '')} 分钟 · {len(areas)} 个县区",
    )
    add_counties(areas, m, county_link=county_link)
    rollups = summary.get("rollups", {})
    add_rollup_table(rollups.get("province", []), m, level="province", position="bottomleft")
    add_rollup_table(rollups.get("prefecture", []), m, level="prefecture", position="bottomright")
    m.fit_bounds([[y0, x0], [y1, x1]])
    return m
