"""The base map every yizhan map starts from: China-ready basemaps and self-served assets.

Basemaps: ``"osm"`` (OpenStreetMap, WGS-84), ``"amap"`` (Gaode/Amap road tiles, GCJ-02) and ``"none"``
(no tiles at all: for tests and offline use). Amap tiles are drawn in GCJ-02, so on an Amap map every
overlay is shifted from WGS-84 to GCJ-02 with :func:`geo.crs.wgs84_to_gcj02` before it is drawn
(:func:`to_tiles_crs`); the map remembers its tiles' CRS so the ``add_*`` functions do this by themselves.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any, Literal

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import CssLink, Element, Figure, JavascriptLink, MacroElement
from folium.plugins import Fullscreen
from folium.template import Template

from geo.errors import InputError
from maps.assets import STATIC_URL, check_mode, inline_css, inline_js, static_path

Tiles = Literal["osm", "amap", "none"]
TILES: tuple[str, ...] = ("osm", "amap", "none")
TILES_CRS: dict[str, str] = {"osm": "wgs84", "amap": "gcj02", "none": "wgs84"}

OSM_URL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
OSM_ATTR = '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors'
AMAP_URL = "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8&x={x}&y={y}&z={z}"
AMAP_ATTR = "&copy; 高德地图 AutoNavi"

#: Shenzhen Nanshan, Science & Technology Park (the real data's core): the default centre
DEFAULT_CENTER: tuple[float, float] = (113.945, 22.545)


def check_tiles(tiles: str) -> str:
    """Return ``tiles`` if known, else raise :class:`geo.errors.InputError`."""
    if tiles not in TILES:
        raise InputError(f"unknown tiles {tiles!r}; use one of {', '.join(TILES)}", field="tiles")
    return tiles


def tile_layer(tiles: str) -> folium.TileLayer | None:
    """Folium tile layer for a basemap code (``None`` for ``"none"``)."""
    check_tiles(tiles)
    if tiles == "osm":
        return folium.TileLayer(OSM_URL, attr=OSM_ATTR, name="OpenStreetMap", max_zoom=19)
    if tiles == "amap":
        return folium.TileLayer(AMAP_URL, attr=AMAP_ATTR, name="高德地图", subdomains="1234", max_zoom=18)
    return None


def _rewrite_links(figure: Figure, assets: str, prefix: str) -> None:
    """Point every script/stylesheet link in the page header at yizhan's own copy (or embed it)."""
    if assets == "cdn":
        return
    header = figure.header
    for name, child in list(header._children.items()):
        if not isinstance(child, JavascriptLink | CssLink):
            continue
        path = static_path(child.url)
        if path is None:
            del header._children[name]
            continue
        is_js = isinstance(child, JavascriptLink)
        if assets == "inline":
            code = f"<script>{inline_js(path)}</script>" if is_js else f"<style>{inline_css(path)}</style>"
        else:
            url = f"{prefix.rstrip('/')}/{path}"
            code = f'<script src="{url}"></script>' if is_js else f'<link rel="stylesheet" href="{url}"/>'
        replacement = Element(code)
        replacement._parent = header
        header._children[name] = replacement


class YizhanMap(folium.Map):
    """A :class:`folium.Map` that knows its tiles' CRS and serves its assets from yizhan.

    Attributes
    ----------
    tiles_code : str
        ``"osm"``, ``"amap"`` or ``"none"``.
    tiles_crs : str
        ``"wgs84"`` or ``"gcj02"``: the CRS overlays are drawn in.
    assets : str
        ``"local"``, ``"inline"`` or ``"cdn"`` (see :mod:`maps.assets`).
    static_prefix : str
        URL prefix of ``maps/static`` in ``local`` mode (default ``/static``).
    """

    def __init__(
        self,
        *args: Any,
        tiles_code: str = "osm",
        assets: str = "local",
        static_prefix: str = STATIC_URL,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.tiles_code = check_tiles(tiles_code)
        self.tiles_crs = TILES_CRS[tiles_code]
        self.assets = check_mode(assets)
        self.static_prefix = static_prefix

    def render(self, **kwargs: Any) -> None:  # type: ignore[override]
        super().render(**kwargs)
        root = self.get_root()
        if isinstance(root, Figure):
            _rewrite_links(root, self.assets, self.static_prefix)


def base_map(
    *,
    center: Sequence[float] | None = None,
    zoom: int = 14,
    tiles: str = "osm",
    assets: str = "local",
    static_prefix: str = STATIC_URL,
    fullscreen: bool = True,
) -> YizhanMap:
    """Create the base map: basemap tiles, scale bar and a fullscreen button.

    Parameters
    ----------
    center : (lon, lat), optional
        WGS-84 centre (shifted to GCJ-02 for Amap tiles). Default: Shenzhen Nanshan.
    zoom : int
        Initial zoom level.
    tiles : {"osm", "amap", "none"}
        Basemap. ``"none"`` requests no tiles at all.
    assets : {"local", "inline", "cdn"}
        Where scripts and stylesheets come from (see :mod:`maps.assets`).
    static_prefix : str
        URL prefix of ``maps/static`` for ``assets="local"``.
    fullscreen : bool
        Add the fullscreen button.

    Returns
    -------
    YizhanMap
    """
    check_tiles(tiles)
    check_mode(assets)
    lon, lat = DEFAULT_CENTER if center is None else (float(center[0]), float(center[1]))
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise InputError(f"center must be (lon, lat) in degrees, got ({lon}, {lat})", field="center")
    if TILES_CRS[tiles] == "gcj02":
        from geo.crs import wgs84_to_gcj02

        lon, lat = wgs84_to_gcj02(lon, lat)
    m = YizhanMap(
        location=[lat, lon],
        zoom_start=zoom,
        tiles=None,
        control_scale=False,
        tiles_code=tiles,
        assets=assets,
        static_prefix=static_prefix,
    )
    m.options["max_zoom"] = 19  # marker clustering needs it even without tiles
    layer = tile_layer(tiles)
    header = _figure(m).header
    if layer is not None:
        layer.add_to(m)
    else:
        no_tiles = Element("<style>.leaflet-container{background:#eef1f4;}</style>")
        header.add_child(no_tiles, name="yizhan_no_tiles")
    if fullscreen:
        Fullscreen(position="topleft", title="全屏", title_cancel="退出全屏").add_to(m)
    MetricScale().add_to(m)
    header.add_child(
        Element(
            '<meta name="viewport" content="width=device-width, initial-scale=1.0"/>'
            '<link rel="icon" href="data:,"/>'
        ),
        name="yizhan_viewport",
    )
    return m


def _figure(m: folium.Map) -> Figure:
    root = m.get_root()
    if not isinstance(root, Figure):
        raise InputError("the map must belong to a folium Figure", field="m")
    return root


class MetricScale(MacroElement):
    """A metric-only scale bar."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        L.control.scale({imperial: false, position: "bottomright"}).addTo({{ this._parent.get_name() }});
        {% endmacro %}
        """
    )


def ensure_map(m: folium.Map | None) -> folium.Map:
    """Return ``m``, or when it is ``None`` a new self-contained :func:`base_map` (``assets="inline"``:
    a map made this way, like ``GeoDataFrame.explore``, is shown in a notebook or saved to a file)."""
    return base_map(assets="inline") if m is None else m


def map_tiles_crs(m: folium.Map, tiles_crs: str | None) -> str:
    """The CRS overlays must be drawn in: ``tiles_crs`` if given, else the map's own."""
    crs = tiles_crs if tiles_crs is not None else getattr(m, "tiles_crs", "wgs84")
    if crs not in ("wgs84", "gcj02"):
        raise InputError(f"tiles_crs must be 'wgs84' or 'gcj02', got {crs!r}", field="tiles_crs")
    return crs


def to_tiles_crs(gdf: gpd.GeoDataFrame, tiles_crs: str) -> gpd.GeoDataFrame:
    """Return a copy of a WGS-84 frame with its geometries in ``tiles_crs`` (GCJ-02 shift for Amap).

    The input must be in EPSG:4326 (reprojected if it carries another CRS; assumed WGS-84 if none).
    """
    out = gdf.copy()
    if out.crs is not None and not out.crs.equals("EPSG:4326"):
        out = out.to_crs(4326)
    if tiles_crs == "wgs84" or out.empty:
        return out
    from geo.crs import wgs84_to_gcj02

    def shift(coords: np.ndarray) -> np.ndarray:
        lon, lat = wgs84_to_gcj02(coords[:, 0], coords[:, 1])
        return np.column_stack([lon, lat])

    out = out.set_geometry(shapely.transform(out.geometry.values, shift))
    return out


def require_columns(frame: Any, columns: Sequence[str], *, what: str) -> None:
    """Raise :class:`geo.errors.InputError` naming the first missing column."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        message = f"{what} lacks column(s) {', '.join(missing)}; it has {', '.join(map(str, frame.columns))}"
        raise InputError(message, field=missing[0])


def require_geodataframe(gdf: Any, *, what: str, geom_types: Sequence[str] | None = None) -> None:
    """Raise :class:`geo.errors.InputError` unless ``gdf`` is a GeoDataFrame of the given geometry types."""
    if not isinstance(gdf, gpd.GeoDataFrame):
        raise InputError(f"{what} must be a GeoDataFrame, got {type(gdf).__name__}", field=what)
    if geom_types is not None and not gdf.empty:
        bad = sorted(set(gdf.geom_type.dropna()) - set(geom_types))
        if bad:
            message = f"{what} must hold {'/'.join(geom_types)} geometries, found {', '.join(bad)}"
            raise InputError(message, field="geometry")


class HtmlBox(MacroElement):
    """A fixed box of HTML on the map (legend, title). ``position``: e.g. ``bottomleft``."""

    _template = Template(
        """
        {% macro html(this, kwargs) %}
        <div id="{{ this.get_name() }}" class="yizhan-box yizhan-{{ this.position }} {{ this.css_class }}">
        {{ this.content }}
        </div>
        {% endmacro %}
        {% macro header(this, kwargs) %}
        <style>
        .yizhan-box { position: fixed; z-index: 1000; background: rgba(255,255,255,0.93);
          border-radius: 6px; box-shadow: 0 1px 5px rgba(0,0,0,0.35); padding: 8px 10px;
          font: 13px/1.45 "PingFang SC","Microsoft YaHei","Noto Sans CJK SC",sans-serif; max-width: 320px; }
        .yizhan-box h4 { margin: 0 0 4px; font-size: 15px; font-weight: 600; }
        .yizhan-bottomleft { left: 10px; bottom: 36px; }
        .yizhan-bottomright { right: 10px; bottom: 58px; }
        .yizhan-bottomright2 { right: 10px; bottom: 140px; }
        .yizhan-topright { right: 60px; top: 10px; }
        .yizhan-top { left: 50%; transform: translateX(-50%); top: 10px; text-align: center; max-width: 60%; }
        .yizhan-legend-row { display: flex; align-items: center; gap: 6px; white-space: nowrap; }
        .yizhan-swatch { display: inline-block; width: 16px; height: 12px; border: 1px solid #666; }
        .yizhan-dot { display: inline-block; width: 14px; height: 14px; border-radius: 50%;
          border: 2px solid #fff; box-shadow: 0 0 1px #333; }
        .yizhan-printbutton { left: 54px; top: 10px; padding: 4px; }
        .yz-print { font: 13px "PingFang SC","Microsoft YaHei","Noto Sans CJK SC",sans-serif;
          cursor: pointer; }
        .yz-area-label { font: 600 12px/1.2 "PingFang SC","Microsoft YaHei","Noto Sans CJK SC",sans-serif;
          color: #3a2a6b; text-align: center; white-space: nowrap;
          text-shadow: 0 0 3px #fff, 0 0 3px #fff, 0 0 3px #fff; pointer-events: none; }
        .yz-proposal-key { display: inline-block; width: 18px; height: 18px; border-radius: 50%;
          background: #111; color: #ffd54f; font: bold 11px/18px sans-serif; text-align: center; }
        /* phones: the title spans the top between the zoom and print buttons and the layer switcher
           moves below it, so nothing overlaps */
        @media (max-width: 640px) {
          .yizhan-box { max-width: 46vw; font-size: 11px; overflow: hidden; }
          .yizhan-top { left: 54px; right: 10px; transform: none; max-width: none; top: 48px;
            font-size: 12px; padding: 6px 8px; }
          .yizhan-top h4 { font-size: 13px; }
          .leaflet-top.leaflet-right { top: 150px; }
          .leaflet-control-layers-expanded { font-size: 11px; padding: 4px 6px; }
          .yizhan-bottomright2 { bottom: 120px; }
        }
        @media print {
          .leaflet-control-zoom, .leaflet-control-layers, .leaflet-control-fullscreen,
          .yz-print-box { display: none !important; }
          .yizhan-box { box-shadow: none; border: 1px solid #999; }
        }
        </style>
        {% endmacro %}
        """
    )

    def __init__(self, content: str, *, position: str = "bottomleft", css_class: str = "") -> None:
        super().__init__()
        self._name = "HtmlBox"
        self.content = content
        self.position = position
        self.css_class = css_class


def escape_text_columns(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """A copy of ``frame`` whose text values in ``columns`` are HTML-escaped, for folium's
    ``GeoJsonTooltip``/``GeoJsonPopup``, which put property values into the page as HTML."""
    out = frame.copy()
    for column in columns:
        if column in out.columns:
            out[column] = [html.escape(v) if isinstance(v, str) else v for v in out[column]]
    return out


def esc(value: Any) -> str:
    """HTML-escape a value for popups and legends (``None``/NaN become an empty string)."""
    if value is None:
        return ""
    if isinstance(value, float) and np.isnan(value):
        return ""
    return html.escape(str(value))


def frames_center(frames: Sequence[gpd.GeoDataFrame]) -> tuple[float, float] | None:
    """The WGS-84 ``(lon, lat)`` middle of the frames' joint bounds (frames in EPSG:4326), or None when
    they are all empty: the centre a map starts at before :func:`fit_to_frames`, so that no page
    starts at :func:`base_map`'s default while it shows another city."""
    shown = [f.geometry.bounds for f in frames if len(f)]
    if not shown:
        return None
    b = pd.concat(shown)
    lon, lat = float(b["minx"].min() + b["maxx"].max()) / 2, float(b["miny"].min() + b["maxy"].max()) / 2
    return (lon, lat) if np.isfinite(lon) and np.isfinite(lat) else None


def fit_to_frames(m: folium.Map, frames: Sequence[gpd.GeoDataFrame], **options: Any) -> folium.Map:
    """Fit ``m`` to the joint bounds of the frames (EPSG:4326, shown in the tiles' coordinate
    system); ``options`` go to :meth:`folium.Map.fit_bounds` (paddings, ``max_zoom``). Returns ``m``."""
    crs = getattr(m, "tiles_crs", "wgs84")
    shown = [to_tiles_crs(f[[f.geometry.name]], crs) for f in frames if len(f)]
    if shown:
        b = pd.concat([f.geometry.bounds for f in shown])
        m.fit_bounds([[b["miny"].min(), b["minx"].min()], [b["maxy"].max(), b["maxx"].max()]], **options)
    return m
