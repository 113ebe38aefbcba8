"""The workers' finder map (爱心地图): a phone-first page to find the nearest open station.

The page locates the worker (``navigator.geolocation``; or a tap on the map; or ``?lon=&lat=`` in the
URL, WGS-84), asks the API ``GET {api_base}/nearest?lon=&lat=&crs=wgs84&mode=&k=&amenity=&open_now=true``
and lists the stations with minutes, distance, amenities, today's hours, the route on the map and a
"导航" link to Amap navigation. Chinese by default, English with ``lang="en"``, ``?lang=en`` or the
toggle. ``api_base=None`` writes an offline page: the stations are embedded and the minutes are a
straight-line estimate, labelled as such (also the fallback when the API cannot be reached).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import jinja2

from geo import catalog
from geo.errors import InputError
from maps.assets import STATIC_URL, check_mode, script_tag, style_tag
from maps.base import (
    AMAP_ATTR,
    AMAP_URL,
    DEFAULT_CENTER,
    OSM_ATTR,
    OSM_URL,
    TILES_CRS,
    check_tiles,
    require_columns,
    require_geodataframe,
)

TEMPLATES = Path(__file__).resolve().parent / "templates"
#: amenity filter buttons, most asked-for first
FILTER_AMENITIES: tuple[str, ...] = (
    "drinking_water", "toilet", "charging", "microwave", "air_conditioning", "seating", "first_aid", "wifi",
)  # fmt: skip
LANGS: tuple[str, ...] = ("zh", "en")


def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=jinja2.select_autoescape(["html"])
    )


def _amenity_codes(value: Any) -> list[str]:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.replace(";", ",").split(",") if v.strip()]
    return [str(v) for v in value]


def _short(label: str) -> str:
    """A button-sized English label: "Charging (phone, e-bike battery)" -> "Charging"."""
    return label.split(" (")[0].split(" / ")[0]


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip()
    return text or None


def station_records(stations: gpd.GeoDataFrame) -> list[dict[str, Any]]:
    """The stations a page embeds: WGS-84 ``lon``/``lat``, name, kind, amenities, hours, address.

    Closed stations are left out (the finder lists open ones; ``planned`` ones are not there yet
    either, so they are left out too when a ``status`` column exists).
    """
    require_geodataframe(stations, what="stations", geom_types=("Point",))
    require_columns(stations, ("name",), what="stations")
    frame = stations if stations.crs is None or stations.crs.equals("EPSG:4326") else stations.to_crs(4326)
    if "status" in frame.columns:
        frame = frame[frame["status"].fillna("open").astype(str) == "open"]
    frame = frame[frame.geometry.notna() & ~frame.geometry.is_empty]
    out = []
    records = frame.drop(columns=frame.geometry.name).to_dict("records")
    for rec, geom in zip(records, frame.geometry, strict=True):
        out.append(
            {
                "id": _text(rec.get("station_id")),
                "name": _text(rec.get("name")) or "驿站",
                "kind": _text(rec.get("kind")) or "other",
                "amenities": _amenity_codes(rec.get("amenities")),
                "hours": _text(rec.get("opening_hours")),
                "address": _text(rec.get("address")),
                "lon": round(float(geom.x), 7),
                "lat": round(float(geom.y), 7),
            }
        )
    return out


def finder_config(
    stations: gpd.GeoDataFrame | None,
    *,
    api_base: str | None = "",
    lang: str = "zh",
    tiles: str = "osm",
    center: Sequence[float] | None = None,
    zoom: int = 15,
    mode: str = "walk",
    k: int = 3,
    filters: Sequence[str] = FILTER_AMENITIES,
    reports: Mapping[str, Sequence[Mapping[str, str]]] | None = None,
) -> dict[str, Any]:
    """The JSON configuration the finder page's script reads (see :func:`finder_page`).

    ``reports``: station id -> accepted worker reports as ``{"label", "text"}`` lines
    (:func:`maps.station_page.report_lines`), shown under the station until resolved."""
    if lang not in LANGS:
        raise InputError(f"unknown lang {lang!r}; use zh or en", field="lang")
    check_tiles(tiles)
    catalog.resolve_mode(mode)
    if not 1 <= k <= 20:
        raise InputError(f"k must be between 1 and 20, got {k}", field="k")
    codes = [catalog.resolve_amenity(a, field="filters") for a in filters]
    records = station_records(stations) if stations is not None else None
    if api_base is None and not records:
        raise InputError("an offline finder page (api_base=None) needs stations to embed", field="stations")
    if center is None:
        if records:
            lon = sorted(r["lon"] for r in records)[len(records) // 2]
            lat = sorted(r["lat"] for r in records)[len(records) // 2]
        else:
            lon, lat = DEFAULT_CENTER
    else:
        lon, lat = float(center[0]), float(center[1])
    tile_spec: dict[str, Any] | None = None
    if tiles == "osm":
        tile_spec = {"url": OSM_URL, "attr": OSM_ATTR, "subdomains": "abc", "max_zoom": 19}
    elif tiles == "amap":
        tile_spec = {"url": AMAP_URL, "attr": AMAP_ATTR, "subdomains": "1234", "max_zoom": 18}
    return {
        "lang": lang,
        "api_base": None if api_base is None else api_base.rstrip("/"),
        "tiles": tile_spec,
        "tiles_crs": TILES_CRS[tiles],
        "center": [lon, lat],
        "zoom": zoom,
        "mode": mode,
        "k": k,
        "speeds_kph": catalog.mode_speeds_kph(),
        "filters": codes,
        "amenities": [
            {"code": e.code, "zh": e.label_zh, "en": _short(e.label_en)} for e in catalog.amenities()
        ],
        "kinds": {e.code: {"zh": e.label_zh, "en": e.label_en} for e in catalog.station_kinds()},
        "stations": records,
        "reports": {str(k): [dict(r) for r in v] for k, v in (reports or {}).items()},
    }


def finder_page(
    stations: gpd.GeoDataFrame | None = None,
    *,
    api_base: str | None = "",
    lang: str = "zh",
    tiles: str = "osm",
    assets: str = "local",
    center: Sequence[float] | None = None,
    zoom: int = 15,
    mode: str = "walk",
    k: int = 3,
    static_prefix: str = STATIC_URL,
    reports: Mapping[str, Sequence[Mapping[str, str]]] | None = None,
) -> str:
    """Render the finder page (爱心地图) as one HTML string.

    Parameters
    ----------
    stations : GeoDataFrame, optional
        Canonical stations (EPSG:4326). Drawn as dots and embedded for the straight-line fallback;
        required when ``api_base`` is None.
    api_base : str or None
        URL prefix of the yizhan API (``""``: same origin). ``None``: offline page, no API calls.
    lang : {"zh", "en"}
        Initial language (the page has a toggle; ``?lang=`` overrides).
    tiles : {"osm", "amap", "none"}
        Basemap; on Amap (GCJ-02) tiles every point and route is shifted for drawing.
    assets : {"local", "inline", "cdn"}
        ``local``: ``/static/...`` URLs served by the API; ``inline``: a self-contained file.
        ``cdn`` behaves like ``local`` (the finder's own script exists only in yizhan).
    center : (lon, lat), optional
        WGS-84 start centre (default: the stations' median, else Shenzhen Nanshan).
    mode : {"walk", "ebike"}
        Initial travel mode.
    k : int
        Number of stations listed.

    Returns
    -------
    str
        The HTML page.
    """
    check_mode(assets)
    config = finder_config(
        stations, api_base=api_base, lang=lang, tiles=tiles, center=center, zoom=zoom, mode=mode, k=k,
        reports=reports,
    )
    head = "\n".join(
        [style_tag("vendor/leaflet/leaflet.css", assets, prefix=static_prefix),
         style_tag("finder/finder.css", assets, prefix=static_prefix)]
    )  # fmt: skip
    body = "\n".join(
        [script_tag("vendor/leaflet/leaflet.js", assets, prefix=static_prefix),
         script_tag("finder/finder.js", assets, prefix=static_prefix)]
    )  # fmt: skip
    config_json = json.dumps(config, ensure_ascii=False).replace("<", "\\u003c")
    title = "爱心地图 · 附近驿站" if lang == "zh" else "Caring Map · stations nearby"
    return (
        _env()
        .get_template("finder.html")
        .render(
            html_lang="zh-CN" if lang == "zh" else "en",
            title=title,
            other_lang_label="English" if lang == "zh" else "中文",
            head_assets=_markup(head),
            body_assets=_markup(body),
            config_json=_markup(config_json),
        )
    )


def _markup(text: str) -> Any:
    from markupsafe import Markup

    return Markup(text)
