"""Amap (高德) links: navigation to a point, for workers' phones and planners' tables.

Amap takes GCJ-02 coordinates; :func:`amap_url` takes GCJ-02, :func:`amap_url_wgs84` converts first.
The navigation mode word of each travel mode is in ``data/modes.toml`` (``amap_mode``).
"""

from __future__ import annotations

from urllib.parse import quote

from geo.catalog import travel_modes
from geo.crs import wgs84_to_gcj02


def amap_url(lon_gcj: float, lat_gcj: float, name: str, mode: str = "walk") -> str:
    """Amap navigation link to a GCJ-02 point (opens the app on a phone)."""
    to = f"{lon_gcj:.6f},{lat_gcj:.6f},{quote(name, safe='')}"
    spec = travel_modes().get(mode)
    return (
        f"https://uri.amap.com/navigation?to={to}&mode={spec.amap_mode if spec else 'walk'}"
        "&coordinate=gaode&callnative=1"
    )


def amap_url_wgs84(lon: float, lat: float, name: str, mode: str = "walk") -> str:
    """:func:`amap_url` of a WGS-84 point (converted to GCJ-02 first)."""
    glon, glat = wgs84_to_gcj02(float(lon), float(lat))
    return amap_url(glon, glat, name, mode)
