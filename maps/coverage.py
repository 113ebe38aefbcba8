"""The planner's coverage map: stations, covered areas per mode, gaps, townships and proposed sites.

Every ``add_*`` function takes a WGS-84 GeoDataFrame (or a plain DataFrame with ``lon``/``lat`` for
proposals) and an optional map ``m``, adds one layer and returns the map, like
:meth:`geopandas.GeoDataFrame.explore`. On an Amap (GCJ-02) map every overlay is shifted to GCJ-02
(``tiles_crs`` is taken from the map made by :func:`maps.base.base_map`; pass it to override).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import folium
import geopandas as gpd
import pandas as pd
from branca.colormap import LinearColormap
from folium.elements import JSCSSMixin
from folium.map import CustomPane, Layer
from folium.plugins import MarkerCluster
from folium.template import Template

from geo import catalog
from geo.errors import InputError
from maps.base import (
    HtmlBox,
    base_map,
    ensure_map,
    esc,
    escape_text_columns,
    fit_to_frames,
    frames_center,
    map_tiles_crs,
    require_columns,
    require_geodataframe,
    to_tiles_crs,
)

#: marker colour and Font Awesome icon per station kind code (data/station_kinds.toml)
KIND_STYLE: dict[str, tuple[str, str]] = {
    "outdoor_worker_station": ("#e6550d", "fa-mug-hot"),
    "union_station": ("#c62828", "fa-star"),
    "love_station": ("#d81b60", "fa-heart"),
    "gig_station": ("#2e7d32", "fa-briefcase"),
    "worker_service_center": ("#1565c0", "fa-building"),
    "worker_home": ("#6a1b9a", "fa-house"),
    "mother_baby_room": ("#f06292", "fa-baby"),
    "other": ("#616161", "fa-location-dot"),
}
STATUS_ZH: dict[str, str] = {"open": "开放", "planned": "规划中", "suspended": "暂停服务", "closed": "已关闭"}
#: the pane of the gap hexagons: beneath Leaflet's overlay pane (400), above the tiles (200)
GAPS_PANE, GAPS_PANE_Z = "yzGaps", 350
#: column names accepted for "minutes to the nearest other station"
NEIGHBOUR_MINUTES_COLUMNS: tuple[str, ...] = (
    "minutes_to_nearest_neighbour",
    "nearest_neighbour_minutes",
    "neighbour_minutes",
    "nn_minutes",
    "minutes_to_nearest",
)
GAP_COLORS: tuple[str, ...] = ("#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20", "#bd0026")
SHARE_COLORS: tuple[str, ...] = ("#d7191c", "#fdae61", "#ffffbf", "#a6d96a", "#1a9641")


def kind_style(code: str) -> tuple[str, str]:
    """Colour and Font Awesome icon class of a station kind (``other`` for unknown codes)."""
    return KIND_STYLE.get(code, KIND_STYLE["other"])


def _labels(entries: Sequence[catalog.Entry]) -> dict[str, str]:
    return {e.code: e.label_zh for e in entries}


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def _amenity_list(value: Any) -> list[str]:
    if _is_missing(value):
        return []
    if isinstance(value, str):
        parts = value.replace("；", ";").replace("，", ",").replace(";", ",").split(",")
        return [p.strip() for p in parts if p.strip()]
    return [str(v) for v in value]


def _fmt_minutes(value: Any) -> str:
    if _is_missing(value):
        return ""
    minutes = float(value)
    if math.isinf(minutes):
        return "不可达"
    return f"{minutes:.1f} 分钟"


def station_popup(row: Mapping[str, Any], *, neighbour_column: str | None = None) -> str:
    """The popup HTML of one station: name, kind, status, address, hours, amenities, neighbour minutes."""
    kinds = _labels(catalog.station_kinds())
    amen = _labels(catalog.amenities())
    kind = str(row.get("kind") or "other")
    rows: list[tuple[str, str]] = [("类型", esc(kinds.get(kind, kind)))]
    status = row.get("status")
    if not _is_missing(status):
        rows.append(("状态", esc(STATUS_ZH.get(str(status), status))))
    for column, label in (
        ("address", "地址"),
        ("opening_hours", "开放时间"),
        ("host_org", "建设单位"),
        ("phone", "电话"),
        ("township_name", "街道"),
    ):
        value = row.get(column)
        if not _is_missing(value):
            rows.append((label, esc(value)))
    codes = _amenity_list(row.get("amenities"))
    if codes:
        rows.append(("服务设施", "、".join(esc(amen.get(c, c)) for c in codes)))
    # station operations: latest star rating and use (columns added by geo.ops when present)
    if not _is_missing(row.get("stars")):
        rows.append(("星级", "★" * int(row["stars"]) + "☆" * (5 - int(row["stars"]))))
    if not _is_missing(row.get("visits_per_day")):
        low = "（低使用）" if row.get("low_use") is True else ""
        rows.append(("日均到访", esc(f"{float(row['visits_per_day']):.1f} 人次{low}")))
    if neighbour_column is not None:
        text = _fmt_minutes(row.get(neighbour_column))
        if text:
            rows.append(("距最近驿站", esc(text)))
    body = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    return f'<div class="yz-popup"><h4>{esc(row.get("name") or "未命名驿站")}</h4><table>{body}</table></div>'


class StationLayer(JSCSSMixin, Layer):
    """Stations as clustered markers built in the browser from one JSON array.

    One ``L.markerClusterGroup`` with ``chunkedLoading`` holds every marker, so tens of thousands of
    stations stay smooth; the page carries the data once instead of one JS block per marker.
    """

    _template = Template(
        """
        {% macro header(this, kwargs) %}
        <style>
        .yz-pin { background: transparent; border: none; }
        .yz-pin div { width: 26px; height: 26px; border-radius: 50%; border: 2px solid #fff;
          box-shadow: 0 1px 4px rgba(0,0,0,.5); color: #fff; display: flex; align-items: center;
          justify-content: center; font-size: 12px; box-sizing: border-box; }
        .yz-pin.yz-planned div { opacity: .65; border-style: dashed; }
        .yz-pin.yz-closed div { filter: grayscale(1); opacity: .5; }
        .yz-popup h4 { margin: 0 0 4px; font-size: 15px; }
        .yz-popup th { text-align: left; padding-right: 8px; color: #555; font-weight: normal;
          white-space: nowrap; vertical-align: top; }
        .yz-popup td { vertical-align: top; }
        </style>
        {% endmacro %}
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = (function () {
            var kinds = {{ this.kinds_json }};
            var rows = {{ this.rows_json }};
            var icons = {};
            function icon(k, status) {
                var key = k + "|" + status;
                if (!icons[key]) {
                    var s = kinds[k];
                    icons[key] = L.divIcon({
                        className: "yz-pin yz-station yz-kind-" + s.code + " yz-" + status,
                        html: '<div style="background:' + s.color + '">'
                            + '<i class="fa-solid ' + s.icon + '"></i></div>',
                        iconSize: [26, 26], iconAnchor: [13, 13], popupAnchor: [0, -12]
                    });
                }
                return icons[key];
            }
            var group = L.markerClusterGroup({{ this.options_json }});
            var markers = new Array(rows.length);
            for (var i = 0; i < rows.length; i++) {
                var r = rows[i];
                var mk = L.marker([r[0], r[1]], {icon: icon(r[2], r[3]), title: r[4]});
                mk.bindPopup(r[5], {maxWidth: 320});
                markers[i] = mk;
            }
            group.addLayers(markers);
            group.yizhanCount = rows.length;
            return group;
        })();
        window.yizhanLayers = window.yizhanLayers || {};
        window.yizhanLayers["stations"] = {{ this.get_name() }};
        {% endmacro %}
        """
    )
    default_js = list(MarkerCluster.default_js)  # noqa: RUF012
    default_css = [  # noqa: RUF012
        *MarkerCluster.default_css,
        (
            "awesome_markers_font_css",
            "https://cdn.jsdelivr.net/npm/@fortawesome/fontawesome-free@6.2.0/css/all.min.css",
        ),
    ]

    def __init__(
        self,
        rows: list[list[Any]],
        kinds: list[dict[str, str]],
        *,
        name: str = "驿站",
        show: bool = True,
        cluster_options: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(name=name, overlay=True, control=True, show=show)
        self._name = "StationLayer"
        self.rows_json = json.dumps(rows, ensure_ascii=False).replace("<", "\\u003c")
        self.kinds_json = json.dumps(kinds, ensure_ascii=False)
        options = {"chunkedLoading": True, "maxClusterRadius": 50, "spiderfyOnMaxZoom": True}
        options.update(cluster_options or {})
        self.options_json = json.dumps(options)
        self.count = len(rows)


def _legend_rows(items: Sequence[tuple[str, str]]) -> str:
    return "".join(
        f'<div class="yizhan-legend-row">{sw}<span>{esc(label)}</span></div>' for sw, label in items
    )


def add_stations(
    stations: gpd.GeoDataFrame,
    m: folium.Map | None = None,
    *,
    tiles_crs: str | None = None,
    name: str = "现有驿站",
    legend: bool = True,
    cluster: bool = True,
) -> folium.Map:
    """Add stations as clustered markers, one colour and icon per kind, with a Chinese legend.

    Parameters
    ----------
    stations : GeoDataFrame
        Canonical stations frame (EPSG:4326 Points): ``name``, ``kind`` required; ``status``,
        ``address``, ``opening_hours``, ``amenities``, ``host_org``, ``phone`` and a
        minutes-to-nearest-neighbour column (:data:`NEIGHBOUR_MINUTES_COLUMNS`) shown when present.
    m : folium.Map, optional
        Map to add to (a new :func:`maps.base.base_map` when ``None``).
    tiles_crs : {"wgs84", "gcj02"}, optional
        CRS to draw in; default: the map's (GCJ-02 on Amap tiles).
    name : str
        Layer name in the layer control.
    legend : bool
        Add the kind legend (only the kinds present).
    cluster : bool
        Cluster markers (set ``False`` to show every marker at every zoom).

    Returns
    -------
    folium.Map
    """
    require_geodataframe(stations, what="stations", geom_types=("Point",))
    require_columns(stations, ("name", "kind"), what="stations")
    m = ensure_map(m)
    crs = map_tiles_crs(m, tiles_crs)
    shown = to_tiles_crs(stations[~stations.geometry.is_empty & stations.geometry.notna()], crs)
    neighbour = next((c for c in NEIGHBOUR_MINUTES_COLUMNS if c in shown.columns), None)
    kind_codes = list(catalog.station_kind_codes())
    labels = _labels(catalog.station_kinds())
    kinds = [
        {"code": c, "label": labels[c], "color": kind_style(c)[0], "icon": kind_style(c)[1]}
        for c in kind_codes
    ]
    index = {c: i for i, c in enumerate(kind_codes)}
    rows: list[list[Any]] = []
    for rec, geom in zip(
        shown.drop(columns=shown.geometry.name).to_dict("records"), shown.geometry, strict=True
    ):
        kind = str(rec.get("kind") or "other")
        status = str(rec.get("status") or "open")
        rows.append(
            [
                round(geom.y, 7),
                round(geom.x, 7),
                index.get(kind, index["other"]),
                status if status in STATUS_ZH else "open",
                str(rec.get("name") or ""),
                station_popup(rec, neighbour_column=neighbour),
            ]
        )
    options = None if cluster else {"disableClusteringAtZoom": 0}
    StationLayer(rows, kinds, name=f"{name}（{len(rows)}）", cluster_options=options).add_to(m)
    if legend and rows:
        present = [c for c in kind_codes if c in set(shown["kind"].fillna("other").astype(str))]
        items = [
            (f'<span class="yizhan-dot" style="background:{kind_style(c)[0]}"></span>', labels[c])
            for c in present
        ]
        content = f"<h4>驿站类型</h4>{_legend_rows(items)}"
        HtmlBox(content, position="bottomleft", css_class="yz-legend-stations").add_to(m)
    return m


def add_covered_area(
    polygons: gpd.GeoDataFrame,
    m: folium.Map | None = None,
    *,
    mode: str,
    minutes: float = 15,
    tiles_crs: str | None = None,
    color: str | None = None,
    show: bool = True,
) -> folium.Map:
    """Add the area reachable within ``minutes`` by ``mode`` as one toggleable layer.

    Parameters
    ----------
    polygons : GeoDataFrame
        EPSG:4326 (Multi)Polygons (service areas of the stations, one or many rows).
    mode : str
        A travel mode of ``data/modes.toml``: names and colours the layer (call once per mode).
    minutes : float
        Time budget shown in the layer name.

    Returns
    -------
    folium.Map
    """
    catalog.resolve_mode(mode)
    require_geodataframe(polygons, what="polygons", geom_types=("Polygon", "MultiPolygon"))
    m = ensure_map(m)
    crs = map_tiles_crs(m, tiles_crs)
    shown = to_tiles_crs(polygons[[polygons.geometry.name]], crs)
    spec = catalog.travel_modes().get(mode)
    fill = color or (spec.color if spec else "#3182bd")
    name = f"{spec.label_zh if spec else mode}{minutes:g}分钟覆盖范围"
    folium.GeoJson(
        shown.__geo_interface__,
        name=name,
        style_function=lambda _f: {
            "color": fill,
            "weight": 1,
            "fillColor": fill,
            "fillOpacity": 0.18,
            "className": f"yz-covered yz-covered-{mode}",
        },
        show=show,
        control=True,
        overlay=True,
    ).add_to(m)
    return m


def _gradient_legend(
    title: str, colors: Sequence[str], vmin: float, vmax: float, fmt: str, suffix: str = ""
) -> str:
    stops = ", ".join(colors)
    return (
        f"<h4>{esc(title)}</h4>"
        f'<div style="width:180px;height:12px;background:linear-gradient(to right, {stops});'
        f'border:1px solid #888"></div>'
        f'<div style="display:flex;justify-content:space-between;width:182px">'
        f"<span>{format(vmin, fmt)}{suffix}</span><span>{format(vmax, fmt)}{suffix}</span></div>"
    )


def add_gaps(
    hexes: gpd.GeoDataFrame,
    m: folium.Map | None = None,
    *,
    tiles_crs: str | None = None,
    name: str = "服务空白（未覆盖需求）",
    legend: bool = True,
) -> folium.Map:
    """Add H3 gap hexagons coloured by uncovered weight, with a colour legend.

    Parameters
    ----------
    hexes : GeoDataFrame
        EPSG:4326 hexagon polygons from :func:`geo.gaps.find_gaps`: ``uncovered_weight`` required;
        ``rank``, ``demand_count``, ``main_group``, ``nearest_station_name`` (or ``nearest_station``) and
        ``nearest_minutes`` (or ``minutes``) shown in the tooltip when present.

    Returns
    -------
    folium.Map
    """
    require_geodataframe(hexes, what="hexes", geom_types=("Polygon", "MultiPolygon"))
    require_columns(hexes, ("uncovered_weight",), what="hexes")
    m = ensure_map(m)
    crs = map_tiles_crs(m, tiles_crs)
    ensure_pane(m, GAPS_PANE, z_index=GAPS_PANE_Z)
    weights = pd.to_numeric(hexes["uncovered_weight"], errors="coerce").fillna(0.0)
    vmin = float(weights.min()) if len(weights) else 0.0
    vmax = float(weights.max()) if len(weights) else 1.0
    cmap = LinearColormap(list(GAP_COLORS), vmin=vmin, vmax=vmax if vmax > vmin else vmin + 1)
    station_col = next((c for c in ("nearest_station_name", "nearest_station") if c in hexes.columns), None)
    minutes_col = next((c for c in ("nearest_minutes", "minutes") if c in hexes.columns), None)
    keep = [c for c in ("rank", "uncovered_weight", "demand_count", "main_group") if c in hexes.columns]
    keep += [c for c in (station_col, minutes_col) if c is not None]
    shown = to_tiles_crs(hexes[[*keep, hexes.geometry.name]], crs)
    shown["uncovered_weight"] = weights.round(1).to_numpy()
    if minutes_col is not None:
        shown[minutes_col] = pd.to_numeric(shown[minutes_col], errors="coerce").round(1)
    if "main_group" in shown.columns:
        groups = {e.code: e.label_zh for e in catalog.worker_groups()}
        shown["main_group"] = [groups.get(str(g), g) for g in shown["main_group"]]
    shown["_fill"] = [cmap(float(w)) for w in weights]
    aliases = {
        "rank": "排名",
        "uncovered_weight": "未覆盖需求",
        "demand_count": "需求点数",
        "main_group": "主要人群",
        "nearest_station_name": "最近驿站",
        "nearest_station": "最近驿站",
        "nearest_minutes": "到最近驿站（分钟）",
        "minutes": "到最近驿站（分钟）",
    }
    fields = keep
    for column in fields:
        shown[column] = shown[column].astype(object).where(shown[column].notna(), "")
    shown = escape_text_columns(shown, fields)  # the tooltip writes values as HTML
    folium.GeoJson(
        json.loads(shown.to_json(na="null")),
        name=name,
        style_function=lambda f: {
            "color": "#7f2704",
            "weight": 0.6,
            "fillColor": f["properties"]["_fill"],
            "fillOpacity": 0.6,
            "className": "yz-gap",
        },
        tooltip=folium.GeoJsonTooltip(fields=fields, aliases=[aliases[c] for c in fields]),
        overlay=True,
        control=True,
        pane=GAPS_PANE,  # beneath the covered streets and areas, whatever order layers are toggled in
    ).add_to(m)
    if legend:
        HtmlBox(
            _gradient_legend("未覆盖需求（权重/格）", GAP_COLORS, vmin, vmax, ".0f"),
            position="bottomright",
            css_class="yz-legend-gaps",
        ).add_to(m)
    return m


def ensure_pane(m: folium.Map, name: str, *, z_index: int) -> folium.Map:
    """Add the Leaflet map pane ``name`` once (panes order layers whatever order they are added in)."""
    if name not in getattr(m, "_yizhan_panes", set()):
        CustomPane(name, z_index=z_index, pointer_events=True).add_to(m)
        m._yizhan_panes = {*getattr(m, "_yizhan_panes", set()), name}  # type: ignore[attr-defined]
    return m


def add_area_labels(
    areas: gpd.GeoDataFrame,
    m: folium.Map | None = None,
    *,
    tiles_crs: str | None = None,
    name: str = "街道名称",
) -> folium.Map:
    """Add each area's name (``area_name``) as a permanent label at a point inside it.

    Parameters
    ----------
    areas : GeoDataFrame
        EPSG:4326 area polygons with ``area_name``; names are escaped.

    Returns
    -------
    folium.Map
    """
    require_geodataframe(areas, what="areas", geom_types=("Polygon", "MultiPolygon"))
    require_columns(areas, ("area_name",), what="areas")
    m = ensure_map(m)
    crs = map_tiles_crs(m, tiles_crs)
    shown = to_tiles_crs(areas[["area_name", areas.geometry.name]], crs)
    group = folium.FeatureGroup(name=name, overlay=True, control=True)
    for label, point in zip(shown["area_name"], shown.geometry.representative_point(), strict=True):
        if _is_missing(label):
            continue
        icon = folium.DivIcon(html=f'<div class="yz-area-label">{esc(label)}</div>', icon_size=(120, 20),
                              icon_anchor=(60, 10), class_name="yz-area-label-icon")
        folium.Marker([point.y, point.x], icon=icon, interactive=False).add_to(group)
    group.add_to(m)
    return m


def add_proposal_legend(sites: pd.DataFrame, m: folium.Map, *, limit: int = 12) -> folium.Map:
    """Add a legend of the proposed sites: the numbered marker and each site's name in build order."""
    require_columns(sites, ("order",), what="sites")
    ordered = sites.sort_values("order").head(limit)
    rows = "".join(
        f'<div class="yizhan-legend-row"><span class="yz-proposal-key">{int(r["order"])}</span>'
        f"{esc(r.get('name') or r.get('candidate_id') or '')}</div>"
        for r in ordered.to_dict("records")
    )
    more = f"<div>… 共 {len(sites)} 个</div>" if len(sites) > limit else ""
    HtmlBox(f"<h4>建议新建站点（按建设顺序）</h4>{rows}{more}", position="bottomleft",
            css_class="yz-legend-proposals").add_to(m)
    return m


def add_print_button(m: folium.Map) -> folium.Map:
    """Add a 打印 button (``window.print()``); controls are hidden and legends kept when printing."""
    button = (
        '<button type="button" class="yz-print" title="打印地图">打印</button>'
        "<script>document.addEventListener('click', function (e) {"
        " if (e.target && e.target.classList && e.target.classList.contains('yz-print')) window.print(); });"
        "</script>"
    )
    HtmlBox(button, position="printbutton", css_class="yz-print-box").add_to(m)
    return m


def add_areas(
    by_area_gdf: gpd.GeoDataFrame,
    m: folium.Map | None = None,
    *,
    tiles_crs: str | None = None,
    name: str = "街道覆盖率",
    legend: bool = True,
    show: bool = True,
) -> folium.Map:
    """Add areas (townships) coloured by covered share, with a tooltip table.

    Parameters
    ----------
    by_area_gdf : GeoDataFrame
        EPSG:4326 area polygons joined with the coverage per area: ``covered_share`` (0–1) required;
        ``area_name``, ``uncovered`` (or ``uncovered_weight``: uncovered workers) and ``stations``
        shown when present (the columns of ``CoverageResult.by_area``).

    Returns
    -------
    folium.Map
    """
    require_geodataframe(by_area_gdf, what="by_area_gdf", geom_types=("Polygon", "MultiPolygon"))
    require_columns(by_area_gdf, ("covered_share",), what="by_area_gdf")
    m = ensure_map(m)
    crs = map_tiles_crs(m, tiles_crs)
    share = pd.to_numeric(by_area_gdf["covered_share"], errors="coerce")
    bad = share[(share < 0) | (share > 1)]
    if len(bad):
        raise InputError(f"covered_share must lie in [0, 1], found {bad.iloc[0]}", field="covered_share")
    cmap = LinearColormap(list(SHARE_COLORS), vmin=0.0, vmax=1.0)
    uncovered_col = next((c for c in ("uncovered", "uncovered_weight") if c in by_area_gdf.columns), None)
    keep = [c for c in ("area_name", "area_code", uncovered_col, "stations") if c in by_area_gdf.columns]
    shown = to_tiles_crs(by_area_gdf[[*keep, by_area_gdf.geometry.name]], crs)
    shown["covered_pct"] = [f"{s:.0%}" if pd.notna(s) else "" for s in share]
    shown["_fill"] = [cmap(float(s)) if pd.notna(s) else "#cccccc" for s in share]
    if uncovered_col is not None:
        shown[uncovered_col] = pd.to_numeric(shown[uncovered_col], errors="coerce").round(0)
    aliases = {
        "area_name": "街道",
        "covered_pct": "覆盖率",
        "uncovered": "未覆盖劳动者",
        "uncovered_weight": "未覆盖劳动者",
        "stations": "驿站数",
    }
    fields = [c for c in ("area_name", "covered_pct", uncovered_col, "stations") if c and c in shown.columns]
    for column in fields:
        shown[column] = shown[column].astype(object).where(shown[column].notna(), "")
    shown = escape_text_columns(shown, fields)  # the tooltip writes values as HTML
    folium.GeoJson(
        json.loads(shown.to_json(na="null")),
        name=name,
        style_function=lambda f: {
            "color": "#444",
            "weight": 1.2,
            "fillColor": f["properties"]["_fill"],
            "fillOpacity": 0.25,
            "className": "yz-area",
        },
        highlight_function=lambda _f: {"weight": 3, "fillOpacity": 0.5},
        tooltip=folium.GeoJsonTooltip(fields=fields, aliases=[aliases[c] for c in fields]),
        overlay=True,
        control=True,
        show=show,
    ).add_to(m)
    if legend:
        HtmlBox(
            _gradient_legend("覆盖率", SHARE_COLORS, 0, 100, ".0f", "%"),
            position="bottomright2",  # above the gaps legend
            css_class="yz-legend-areas",
        ).add_to(m)
    return m


def _proposal_points(sites: pd.DataFrame) -> gpd.GeoDataFrame:
    if isinstance(sites, gpd.GeoDataFrame):
        require_geodataframe(sites, what="sites", geom_types=("Point",))
        return sites
    require_columns(sites, ("lon", "lat"), what="sites")
    return gpd.GeoDataFrame(sites.copy(), geometry=gpd.points_from_xy(sites["lon"], sites["lat"]), crs=4326)


def add_proposals(
    sites: pd.DataFrame,
    m: folium.Map | None = None,
    *,
    tiles_crs: str | None = None,
    name: str = "建议新建站点",
) -> folium.Map:
    """Add proposed sites as numbered markers in build order, with gain and cumulative coverage.

    Parameters
    ----------
    sites : DataFrame or GeoDataFrame
        Selected sites in build order (``geo.siting``): ``order`` required, and ``lon``/``lat`` (WGS-84)
        or Point geometry; ``name``, ``candidate_id``, ``host_type``, ``gain`` (marginal covered
        weight) and ``cumulative_share`` (0–1) shown when present.

    Returns
    -------
    folium.Map
    """
    require_columns(sites, ("order",), what="sites")
    m = ensure_map(m)
    crs = map_tiles_crs(m, tiles_crs)
    shown = to_tiles_crs(_proposal_points(sites), crs).sort_values("order")
    group = folium.FeatureGroup(name=f"{name}（{len(shown)}）", overlay=True, control=True)
    for rec, geom in zip(
        shown.drop(columns=shown.geometry.name).to_dict("records"), shown.geometry, strict=True
    ):
        order = int(rec["order"])
        rows = [("建设顺序", f"第 {order} 个")]
        for column, label in (("candidate_id", "候选点"), ("host_type", "依托场所")):
            if not _is_missing(rec.get(column)):
                rows.append((label, esc(rec[column])))
        if not _is_missing(rec.get("gain")):
            rows.append(("新增覆盖", f"{float(rec['gain']):,.1f}"))
        if not _is_missing(rec.get("cumulative_share")):
            rows.append(("累计覆盖率", f"{float(rec['cumulative_share']):.1%}"))
        body = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
        title = esc(rec.get("name") or f"建议站点 {order}")
        popup = f'<div class="yz-popup"><h4>{title}</h4><table>{body}</table></div>'
        icon = folium.DivIcon(
            html=(
                f'<div class="yz-proposal" data-order="{order}" '
                'style="width:28px;height:28px;border-radius:50%;'
                "background:#111;color:#ffd54f;border:2px solid #ffd54f;font:bold 14px/24px sans-serif;"
                f'text-align:center;box-shadow:0 1px 4px rgba(0,0,0,.6)">{order}</div>'
            ),
            icon_size=(28, 28),
            icon_anchor=(14, 14),
            class_name="yz-proposal-icon",
        )
        folium.Marker(
            [geom.y, geom.x], icon=icon, popup=folium.Popup(popup, max_width=320), tooltip=f"{order}. {title}"
        ).add_to(group)
    group.add_to(m)
    return m


def add_title(
    m: folium.Map,
    *,
    covered_share: float,
    uncovered: float,
    stations: int,
    date: dt.date | str | None = None,
    title: str = "工会驿站15分钟服务圈",
    subtitle: str | None = None,
) -> folium.Map:
    """Add a title box with the headline numbers (covered share, uncovered workers, stations, date)."""
    if not 0 <= covered_share <= 1:
        raise InputError(f"covered_share must lie in [0, 1], got {covered_share}", field="covered_share")
    day = date.isoformat() if isinstance(date, dt.date) else (date or dt.date.today().isoformat())
    sub = f"<div>{esc(subtitle)}</div>" if subtitle else ""
    content = (
        f"<h4>{esc(title)}</h4>{sub}"
        f'<div class="yz-headline">覆盖率 <b data-k="covered_share">{covered_share:.1%}</b>'
        f' · 未覆盖劳动者 <b data-k="uncovered">{uncovered:,.0f}</b>'
        f' · 驿站 <b data-k="stations">{int(stations)}</b> 个</div>'
        f'<div style="color:#666;font-size:12px">{esc(day)}</div>'
    )
    HtmlBox(content, position="top", css_class="yz-title").add_to(m)
    return m


def add_layer_control(m: folium.Map) -> folium.Map:
    """Add the layer switcher (expanded) once all layers are on the map."""
    folium.LayerControl(collapsed=False, position="topright").add_to(m)
    return m


def add_area_outlines(
    areas: gpd.GeoDataFrame,
    m: folium.Map | None = None,
    *,
    tiles_crs: str | None = None,
    name: str = "街道边界",
) -> folium.Map:
    """Add area boundaries only (no coverage figures), with the area name as tooltip."""
    require_geodataframe(areas, what="areas", geom_types=("Polygon", "MultiPolygon"))
    m = ensure_map(m)
    crs = map_tiles_crs(m, tiles_crs)
    keep = [c for c in ("area_name", "area_code") if c in areas.columns]
    shown = escape_text_columns(to_tiles_crs(areas[[*keep, areas.geometry.name]], crs), keep)
    tooltip = folium.GeoJsonTooltip(fields=["area_name"], aliases=["街道"]) if "area_name" in keep else None
    folium.GeoJson(
        json.loads(shown.to_json(na="null")),
        name=name,
        style_function=lambda _f: {"color": "#555", "weight": 1.5, "fill": False, "className": "yz-area"},
        tooltip=tooltip,
        overlay=True,
        control=True,
    ).add_to(m)
    return m


def _covered_layers(covered: Any, mode: str) -> list[tuple[str, gpd.GeoDataFrame]]:
    if covered is None:
        return []
    if isinstance(covered, gpd.GeoDataFrame):
        if "mode" not in covered.columns:
            return [(mode, covered)]
        return [(str(k), g) for k, g in covered.groupby("mode", sort=False)]
    return [(str(k), v) for k, v in dict(covered).items()]


def _areas_with_coverage(areas: gpd.GeoDataFrame, by_area: pd.DataFrame | None) -> gpd.GeoDataFrame | None:
    """Areas joined with the per-area table on ``area_code`` (None when no figures are available)."""
    if "covered_share" in areas.columns:
        return areas
    if by_area is None or not len(by_area):
        return None
    require_columns(areas, ("area_code",), what="areas")
    require_columns(by_area, ("area_code", "covered_share"), what="by_area")
    table = by_area.drop(columns=[c for c in ("area_name",) if c in areas.columns and c in by_area.columns])
    table = table.assign(area_code=table["area_code"].astype(str))
    merged = areas.assign(area_code=areas["area_code"].astype(str)).merge(table, on="area_code", how="left")
    return gpd.GeoDataFrame(merged, geometry=areas.geometry.name, crs=areas.crs)


def coverage_map(
    stations: gpd.GeoDataFrame,
    *,
    covered: gpd.GeoDataFrame | Mapping[str, gpd.GeoDataFrame] | None = None,
    gaps: gpd.GeoDataFrame | None = None,
    areas: gpd.GeoDataFrame | None = None,
    by_area: pd.DataFrame | None = None,
    proposals: pd.DataFrame | None = None,
    headline: Mapping[str, Any] | None = None,
    mode: str | None = None,
    minutes: float = 15,
    tiles: str = "osm",
    assets: str = "local",
    center: Sequence[float] | None = None,
    zoom: int = 14,
    title: str | None = None,
    date: dt.date | str | None = None,
) -> folium.Map:
    """Assemble the planner's coverage map: areas, covered area per mode, gaps, stations, proposals,
    title box, layer control, scale bar and fullscreen button.

    Parameters
    ----------
    stations : GeoDataFrame
        Canonical stations (EPSG:4326), e.g. ``CoverageResult.stations``.
    covered : GeoDataFrame or {mode: GeoDataFrame}, optional
        Covered-area polygons (``geo.coverage.covered_area``); a frame with a ``mode`` column gives
        one layer per mode, one without is drawn for ``mode``.
    gaps : GeoDataFrame, optional
        Gap hexagons (``geo.gaps.find_gaps``).
    areas : GeoDataFrame, optional
        Area polygons. Coloured by covered share when they carry ``covered_share`` or ``by_area``
        is given (joined on ``area_code``), else drawn as outlines.
    by_area : DataFrame, optional
        ``CoverageResult.by_area``.
    proposals : DataFrame, optional
        Proposed sites in build order (``SitingResult.selected``).
    headline : mapping, optional
        ``covered_share`` and ``uncovered`` (or ``demand_total``/``demand_covered``) and ``stations``
        (e.g. ``CoverageResult.summary.as_dict()``): the title box.
    mode : str, optional
        A mode of ``data/modes.toml``: the mode of ``covered`` without a ``mode`` column (default
        ``headline["mode"]``, else walk).
    minutes : float
        The travel-time threshold (layer names, default title).
    title : str, optional
        Title box heading (default "工会驿站{minutes}分钟服务圈").
    tiles, assets, center, zoom
        See :func:`maps.base.base_map`; the map fits the stations (and areas) when ``center`` is None.

    Returns
    -------
    folium.Map
    """
    require_geodataframe(stations, what="stations", geom_types=("Point",))
    head = dict(headline or {})
    mode = catalog.resolve_mode(mode or str(head.get("mode") or "walk"))
    extent = [stations] + ([areas] if areas is not None else [])
    m = base_map(center=center if center is not None else frames_center(extent), zoom=zoom, tiles=tiles,
                 assets=assets)
    if areas is not None and len(areas):
        _add_area_layer(areas, by_area, m)
    _add_covered_layers(covered, m, mode=mode, minutes=minutes)
    if gaps is not None and len(gaps):
        add_gaps(gaps, m)
    add_stations(stations, m)
    if areas is not None and len(areas) and "area_name" in areas.columns:
        add_area_labels(areas, m)
    if proposals is not None and len(proposals):
        add_proposals(proposals, m)
        add_proposal_legend(proposals, m)
    add_print_button(m)
    if headline is not None:
        _add_headline(head, m, stations=len(stations), mode=mode, minutes=minutes, date=date, title=title)
    add_layer_control(m)
    if center is None:
        fit_to_frames(m, extent)
    return m


def _add_area_layer(areas: gpd.GeoDataFrame, by_area: pd.DataFrame | None, m: folium.Map) -> None:
    """Areas coloured by covered share when the shares are known, else their outlines."""
    joined = _areas_with_coverage(areas, by_area)
    if joined is not None:
        add_areas(joined, m)
    else:
        add_area_outlines(areas, m)


def _add_covered_layers(
    covered: gpd.GeoDataFrame | Mapping[str, gpd.GeoDataFrame] | None, m: folium.Map, *, mode: str,
    minutes: float,
) -> None:
    """One covered-area layer per mode; faster modes reach farther, so they are drawn first and the
    smaller walking area stays visible on top."""
    speeds = catalog.mode_speeds_kph()
    layers = sorted(_covered_layers(covered, mode), key=lambda item: -speeds.get(item[0], 0.0))
    for layer_mode, polys in layers:
        add_covered_area(polys, m, mode=layer_mode, minutes=minutes)


def _add_headline(
    head: Mapping[str, Any], m: folium.Map, *, stations: int, mode: str, minutes: float,
    date: dt.date | str | None, title: str | None,
) -> None:
    """The title box: covered share, uncovered demand, stations, mode and threshold."""
    if "uncovered" in head:
        uncovered = float(head["uncovered"])
    else:
        uncovered = float(head.get("demand_total", 0.0)) - float(head.get("demand_covered", 0.0))
    share = head.get("covered_share")
    add_title(
        m,
        covered_share=float(share) if share is not None and not _is_missing(share) else 0.0,
        uncovered=uncovered,
        stations=int(head.get("stations", stations)),
        date=date,
        title=title or f"工会驿站{minutes:g}分钟服务圈",
        subtitle=f"{catalog.travel_modes()[mode].label_zh} {minutes:g} 分钟",
    )


