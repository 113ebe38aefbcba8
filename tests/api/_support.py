"""Constants and helpers shared by the API tests (fixtures live in ``conftest.py``)."""

from __future__ import annotations

from typing import Any

API_KEY = "test-key-7f3a9c"
WRITE = {"X-API-Key": API_KEY}

#: points in the Nanshan core (WGS-84), near streets of the walk network
SHENZHEN_UNIVERSITY = (113.9365, 22.5405)
TECH_PARK = (113.9530, 22.5440)


def station_feature(name: str, lon: float, lat: float, **props: Any) -> dict[str, Any]:
    """A GeoJSON Feature for POST /stations."""
    properties: dict[str, Any] = {"name": name, "kind": "union_station", "status": "open"}
    properties.update(props)
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
        "properties": properties,
    }
