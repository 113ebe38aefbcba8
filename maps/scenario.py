"""The planner's scenario map: a plan's stations and its difference to its base.

Layers: the base stations it keeps, the stations it adds (green), closes (grey, crossed out) and
relocates (an arrow from the old point to the new one), the demand points that gain coverage and
those that lose it, a legend and a title box with the headline figures.

Every ``add_*`` function takes a WGS-84 GeoDataFrame and an optional map ``m``, adds one layer and
returns the map, like :mod:`maps.coverage`. Each layer is built in the browser from one JSON array
(no per-marker script): every text shown (station names, worker groups, the scenario's name) is
HTML-escaped here and reaches the page as JSON with ``<`` escaped, so a name holding markup is shown
as text and never run; served pages also carry the Content-Security-Policy of :mod:`maps.csp`.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
from folium.map import Layer
from folium.template import Template

from geo.errors import InputError
from maps.base import (
    HtmlBox,
    base_map,
    ensure_map,
    esc,
    fit_to_frames,
    frames_center,
    map_tiles_crs,
    require_columns,
    require_geodataframe,
    to_tiles_crs,
)

#: colours of the layers (stroke, fill)
STYLE: dict[str, tuple[str, str]] = {
    "kept": ("#37474f", "#90a4ae"),
    "added": ("#1b5e20", "#43a047"),
    "closed": ("#424242", "#9e9e9e"),
    "relocated": ("#e65100", "#fb8c00"),
    "gained": ("#1b5e20", "#66bb6a"),
    "lost": ("#b71c1c", "#e53935"),
}
LABEL_ZH: dict[str, str] = {
    "kept": "基线驿站（保留）",
    "added": "新增驿站",
    "closed": "关闭驿站",
    "relocated": "迁址驿站（旧址→新址）",
    "gained": "新覆盖的需求点",
    "lost": "失去覆盖的需求点",
}


def _js(value: Any) -> str:
    """JSON for a script block: ASCII only and ``<`` escaped (no ``</script>`` can end the block)."""
    return json.dumps(value, ensure_ascii=True).replace("<", "\\u003c")


class PointLayer(Layer):
    """One overlay of circle markers (``shape="circle"``), crossed-out markers (``"cross"``) or
    arrows (``"arrow"``: rows carry the old point too), built in the browser from one JSON array of
    ``[lat, lon, tooltip_html, (old_lat, old_lon)]``; the tooltip HTML is escaped by the caller."""

    _template = Template(
        """
        {% macro header(this, kwargs) %}
        <style>
        .yz-cross { background: transparent; border: none; }
        .yz-cross div { width: 18px; height: 18px; border-radius: 50%; background: #bdbdbd;
          border: 2px solid #424242; color: #212121; font: bold 13px/14px sans-serif; text-align: center;
          box-sizing: border-box; opacity: .85; }
        </style>
        {% endmacro %}
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = (function () {
            var rows = {{ this.rows_json }};
            var style = {{ this.style_json }};
            var group = L.featureGroup();
            var cross = L.divIcon({className: "yz-cross", html: "<div>\\u2715</div>",
                                   iconSize: [18, 18], iconAnchor: [9, 9]});
            rows.forEach(function (r) {
                var at = [r[0], r[1]];
                var mk;
                if (style.shape === "cross") {
                    mk = L.marker(at, {icon: cross, keyboard: false});
                } else {
                    mk = L.circleMarker(at, {radius: style.radius, color: style.color, weight: 2,
                                             fillColor: style.fill, fillOpacity: 0.85});
                }
                mk.bindTooltip(r[2]);
                mk.addTo(group);
                if (style.shape === "arrow") {
                    var from = [r[3], r[4]];
                    var line = L.polyline([from, at], {color: style.color, weight: 3, dashArray: "6 4"});
                    line.bindTooltip(r[2]);
                    line.addTo(group);
                    L.polyline(r[5], {color: style.color, weight: 3}).addTo(group);
                    L.circleMarker(from, {radius: 4, color: style.color, weight: 1, fillColor: "#fff",
                                          fillOpacity: 1}).addTo(group);
                }
            });
            group.yizhanCount = rows.length;
            return group;
        })();
        window.yizhanLayers = window.yizhanLayers || {};
        window.yizhanLayers[{{ this.key_json }}] = {{ this.get_name() }};
        {% endmacro %}
        """
    )

    def __init__(
        self,
        rows: list[list[Any]],
        *,
        key: str,
        shape: str = "circle",
        radius: float = 7,
        name: str = "",
        show: bool = True,
    ) -> None:
        super().__init__(name=name, overlay=True, control=True, show=show)
        self._name = "PointLayer"
        stroke, fill = STYLE[key]
        self.rows_json = _js(rows)
        self.style_json = _js({"shape": shape, "radius": radius, "color": stroke, "fill": fill})
        self.key_json = _js(key)
        self.count = len(rows)


def _shown(frame: gpd.GeoDataFrame, m: folium.Map, tiles_crs: str | None, what: str) -> gpd.GeoDataFrame:
    require_geodataframe(frame, what=what, geom_types=("Point",))
    keep = frame[~frame.geometry.is_empty & frame.geometry.notna()]
    return to_tiles_crs(keep, map_tiles_crs(m, tiles_crs))


def _station_tip(prefix: str, rec: Mapping[str, Any]) -> str:
    name = rec.get("name")
    shown = "未命名驿站" if name is None or (isinstance(name, float) and math.isnan(name)) else name
    return f"<b>{esc(prefix)}</b> {esc(shown)}<br><small>{esc(rec.get('station_id'))}</small>"


def _station_layer(
    stations: gpd.GeoDataFrame,
    m: folium.Map | None,
    *,
    key: str,
    shape: str,
    tiles_crs: str | None,
    name: str | None,
    radius: float,
) -> folium.Map:
    m = ensure_map(m)
    shown = _shown(stations, m, tiles_crs, f"{key} stations")
    rows = [
        [round(g.y, 7), round(g.x, 7), _station_tip(LABEL_ZH[key], rec)]
        for rec, g in zip(
            shown.drop(columns=shown.geometry.name).to_dict("records"), shown.geometry, strict=True
        )
    ]
    PointLayer(
        rows, key=key, shape=shape, radius=radius, name=f"{name or LABEL_ZH[key]}（{len(rows)}）"
    ).add_to(m)
    return m


def add_base_stations(
    stations: gpd.GeoDataFrame,
    m: folium.Map | None = None,
    *,
    tiles_crs: str | None = None,
    name: str | None = None,
) -> folium.Map:
    """Add the base stations the plan keeps (grey-blue circles); ``name``/``station_id`` in tooltips.

    Parameters
    ----------
    stations : GeoDataFrame
        Canonical stations (EPSG:4326 points), e.g. :attr:`geo.scenario.diff.StationChanges.kept`.
    m : folium.Map, optional
        Map to add to (a new self-contained :func:`maps.base.base_map` when ``None``).
    tiles_crs : {"wgs84", "gcj02"}, optional
        CRS to draw in; default: the map's (GCJ-02 on Amap tiles).
    name : str, optional
        Layer name in the layer control.

    Returns
    -------
    folium.Map
    """
    return _station_layer(stations, m, key="kept", shape="circle", tiles_crs=tiles_crs, name=name, radius=6)


def add_added_stations(
    stations: gpd.GeoDataFrame,
    m: folium.Map | None = None,
    *,
    tiles_crs: str | None = None,
    name: str | None = None,
) -> folium.Map:
    """Add the stations the plan adds (green circles); parameters as :func:`add_base_stations`."""
    return _station_layer(stations, m, key="added", shape="circle", tiles_crs=tiles_crs, name=name, radius=9)


def add_closed_stations(
    stations: gpd.GeoDataFrame,
    m: folium.Map | None = None,
    *,
    tiles_crs: str | None = None,
    name: str | None = None,
) -> folium.Map:
    """Add the stations the plan closes (grey, crossed out); parameters as :func:`add_base_stations`."""
    return _station_layer(stations, m, key="closed", shape="cross", tiles_crs=tiles_crs, name=name, radius=8)


def _arrow_head(old: tuple[float, float], new: tuple[float, float]) -> list[list[float]]:
    """Two short strokes at ``new`` (lat, lon) pointing along old → new (in local metres)."""
    k = math.cos(math.radians(new[0]))
    dx, dy = (new[1] - old[1]) * k, new[0] - old[0]
    length = math.hypot(dx, dy)
    if length == 0:
        return [list(new), list(new)]
    size = min(length * 0.35, 0.0012)
    ux, uy = dx / length, dy / length
    out = []
    for sign in (1, -1):
        ca, sa = math.cos(math.radians(25)), sign * math.sin(math.radians(25))
        bx, by = -(ux * ca - uy * sa) * size, -(ux * sa + uy * ca) * size
        out.append([round(new[0] + by, 7), round(new[1] + bx / k, 7)])
    return [out[0], [round(new[0], 7), round(new[1], 7)], out[1]]


def add_relocations(
    stations: gpd.GeoDataFrame,
    m: folium.Map | None = None,
    *,
    tiles_crs: str | None = None,
    name: str | None = None,
) -> folium.Map:
    """Add the stations the plan moves: an arrow from ``old_lon``/``old_lat`` to the new point (the
    geometry), both WGS-84; parameters as :func:`add_base_stations`."""
    require_columns(stations, ("old_lon", "old_lat"), what="relocated stations")
    m = ensure_map(m)
    crs = map_tiles_crs(m, tiles_crs)
    shown = _shown(stations, m, crs, "relocated stations")
    old = gpd.GeoDataFrame(geometry=gpd.points_from_xy(shown["old_lon"], shown["old_lat"]), crs="EPSG:4326")
    old = to_tiles_crs(old, crs)
    rows = []
    for rec, g, o in zip(
        shown.drop(columns=shown.geometry.name).to_dict("records"), shown.geometry, old.geometry, strict=True
    ):
        new_at, old_at = (round(g.y, 7), round(g.x, 7)), (round(o.y, 7), round(o.x, 7))
        rows.append([*new_at, _station_tip(LABEL_ZH["relocated"], rec), *old_at, _arrow_head(old_at, new_at)])
    PointLayer(
        rows, key="relocated", shape="arrow", radius=8, name=f"{name or LABEL_ZH['relocated']}（{len(rows)}）"
    ).add_to(m)
    return m


def _minutes_text(value: Any) -> str:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return "—"
    return "不可达" if math.isnan(x) else f"{x:.1f} 分钟"


def add_demand_changes(
    changed: gpd.GeoDataFrame, m: folium.Map | None = None, *, tiles_crs: str | None = None
) -> folium.Map:
    """Add the demand points whose coverage changes: one layer of those that gain it (green), one
    of those that lose it (red).

    Parameters
    ----------
    changed : GeoDataFrame
        :attr:`geo.scenario.compare.Comparison.changed` (EPSG:4326 points): ``change`` (``gained`` or
        ``lost``), ``group``, ``weight``, ``minutes_a``, ``minutes_b``.
    m, tiles_crs
        As :func:`add_base_stations`.

    Returns
    -------
    folium.Map
    """
    require_columns(changed, ("change",), what="changed demand")
    m = ensure_map(m)
    shown = _shown(changed, m, tiles_crs, "changed demand")
    for key in ("gained", "lost"):
        part = shown[shown["change"] == key]
        rows = []
        for rec, g in zip(
            part.drop(columns=part.geometry.name).to_dict("records"), part.geometry, strict=True
        ):
            tip = (
                f"<b>{esc(LABEL_ZH[key])}</b><br>{esc(rec.get('group'))} · 权重 {esc(rec.get('weight'))}"
                f"<br>{_minutes_text(rec.get('minutes_a'))} → {_minutes_text(rec.get('minutes_b'))}"
            )
            rows.append([round(g.y, 7), round(g.x, 7), tip])
        PointLayer(rows, key=key, radius=4, name=f"{LABEL_ZH[key]}（{len(rows)}）").add_to(m)
    return m


def add_scenario_legend(m: folium.Map, counts: Mapping[str, int]) -> folium.Map:
    """Add the legend: one row per layer with its symbol and count (``counts`` keyed like :data:`STYLE`)."""
    rows = []
    for key in ("kept", "added", "closed", "relocated", "gained", "lost"):
        stroke, fill = STYLE[key]
        if key == "closed":
            symbol = (
                f'<span class="yizhan-dot" style="background:{fill};text-align:center;font-size:9px">✕</span>'
            )
        elif key == "relocated":
            symbol = f'<span style="color:{stroke};font-weight:bold">⇢</span>'
        else:
            symbol = f'<span class="yizhan-dot" style="background:{fill};border-color:{stroke}"></span>'
        rows.append(
            f'<div class="yizhan-legend-row">{symbol}<span>{esc(LABEL_ZH[key])}</span>'
            f'<b data-k="{key}">{int(counts.get(key, 0))}</b></div>'
        )
    HtmlBox(
        f"<h4>方案对比</h4>{''.join(rows)}", position="bottomleft", css_class="yz-legend-scenario"
    ).add_to(m)
    return m


def add_scenario_title(
    m: folium.Map,
    *,
    name: str,
    summary: Mapping[str, Any],
    base_name: str = "基线",
    minutes: float = 15,
    date: dt.date | str | None = None,
) -> folium.Map:
    """Add the title box: the scenario's name and, against ``base_name``, covered share before and
    after, workers gained and lost and the cost (``summary``: :attr:`Comparison.summary`)."""
    share_a, share_b = summary.get("covered_share_a"), summary.get("covered_share_b")
    for value in (share_a, share_b):
        if value is not None and not 0 <= float(value) <= 1:
            raise InputError(f"covered shares must lie in [0, 1], got {value}", field="summary")
    day = date.isoformat() if isinstance(date, dt.date) else (date or dt.date.today().isoformat())
    cost = float(summary.get("cost_b") or 0.0) - float(summary.get("cost_a") or 0.0)
    content = (
        f"<h4>方案：{esc(name)}</h4><div>对比 {esc(base_name)} · {minutes:g} 分钟服务圈</div>"
        f'<div class="yz-headline">覆盖率 <b data-k="share_a">{float(share_a or 0):.1%}</b> → '
        f'<b data-k="share_b">{float(share_b or 0):.1%}</b> · 新覆盖 <b data-k="gained">'
        f'{float(summary.get("gained") or 0):,.0f}</b> · 失去 <b data-k="lost">'
        f'{float(summary.get("lost") or 0):,.0f}</b> · 费用 <b data-k="cost">{cost:,.0f}</b> 元</div>'
        f'<div style="color:#666;font-size:12px">{esc(day)}</div>'
    )
    HtmlBox(content, position="top", css_class="yz-title").add_to(m)
    return m


def scenario_map(
    kept: gpd.GeoDataFrame,
    added: gpd.GeoDataFrame,
    closed: gpd.GeoDataFrame,
    relocated: gpd.GeoDataFrame,
    changed: gpd.GeoDataFrame,
    *,
    name: str,
    summary: Mapping[str, Any],
    base_name: str = "基线",
    minutes: float = 15,
    tiles: str = "osm",
    assets: str = "local",
    date: dt.date | str | None = None,
) -> folium.Map:
    """Assemble the scenario map (every layer above, a legend, a title box and the layer control),
    fitted to the stations and changed points. Frames as :class:`geo.scenario.diff.StationChanges`
    and :attr:`geo.scenario.compare.Comparison.changed`; ``tiles``/``assets`` as :func:`base_map`. The
    map starts centred on the middle of their bounds (before it is fitted to them)."""
    frames = [kept, added, closed, relocated, changed]
    m = base_map(center=frames_center(frames), tiles=tiles, assets=assets)
    add_demand_changes(changed, m)
    add_base_stations(kept, m)
    add_closed_stations(closed, m)
    add_relocations(relocated, m)
    add_added_stations(added, m)
    counts = {
        "kept": len(kept),
        "added": len(added),
        "closed": len(closed),
        "relocated": len(relocated),
        "gained": int((changed["change"] == "gained").sum()),
        "lost": int((changed["change"] == "lost").sum()),
    }
    add_scenario_legend(m, counts)
    add_scenario_title(m, name=name, summary=summary, base_name=base_name, minutes=minutes, date=date)
    folium.LayerControl(collapsed=False, position="topright").add_to(m)
    # room for the title box above and the legend below (pixels)
    fit_to_frames(m, frames, padding_top_left=(40, 110), padding_bottom_right=(40, 190), max_zoom=18)
    return m


def write_comparison_map(
    path: str | Path,
    stations_a: gpd.GeoDataFrame,
    stations_b: gpd.GeoDataFrame,
    comparison: Any,
    *,
    name: str,
    base_name: str,
    minutes: float = 15,
    tiles: str = "osm",
) -> Path:
    """Write the map of plan ``b`` (``name``) against plan ``a`` (``base_name``) as one self-contained
    HTML file (scripts and styles inlined), through a temporary file renamed onto ``path``.

    ``stations_a``/``stations_b`` are the two results' stations (``CoverageResult.stations``),
    ``comparison`` their :class:`geo.scenario.compare.Comparison`.
    """
    from geo.scenario.diff import station_changes
    from geo.text import atomic_path

    changes = station_changes(stations_a, stations_b)
    m = scenario_map(
        changes.kept,
        changes.added,
        changes.closed,
        changes.relocated,
        comparison.changed,
        name=name,
        summary=comparison.summary,
        base_name=base_name,
        minutes=minutes,
        tiles=tiles,
        assets="inline",
    )
    target = Path(path)
    with atomic_path(target, field="--map") as tmp:
        tmp.write_text(m.get_root().render(), encoding="utf-8")
    return target
