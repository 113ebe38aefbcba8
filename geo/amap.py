"""Amap (高德) links: navigation to a point, for workers' phones and planners' tables.

Amap takes GCJ-02 coordinates; :func:`amap_url` takes GCJ-02, :func:`amap_url_wgs84` converts first.
"""

from __future__ import annotations

from urllib.parse import quote

from geo.crs import wgs84_to_gcj02

#: yizhan travel mode -> Amap navigation mode
AMAP_MODES: dict[str, str] = {"walk": "walk", "ebike": "ride"}


def amap_url(lon_gcj: float, lat_gcj: float, name: str, mode: str = "walk") -> str:
    """Amap navigation link to a GCJ-02 point (opens the app on a phone)."""
    to = f"{lon_gcj:.6f},{lat_gcj:.6f},{quote(name, safe='')}"
    return (
        f"https://uri.amap.com/navigation?to={to}&mode={AMAP_MODES.get(mode, 'walk')}"
        "&coordinate=gaode&callnative=1"
    )


def amap_url_wgs84(lon: float, lat: float, name: str, mode: str = "walk") -> str:
    """:func:`amap_url` of a WGS-84 point (converted to GCJ-02 first)."""
    glon, glat = wgs84_to_gcj02(float(lon), float(lat))
    return amap_url(glon, glat, name, mode)
