"""GeoDataFrame → GeoJSON helpers shared by the routers (JSON-safe values, output CRS, paging links)."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlencode

import numpy as np
import pandas as pd
import shapely

from geo.crs import convert

GEOJSON = "application/geo+json"


def json_value(value: Any) -> Any:
    """Turn numpy / pandas / datetime values into plain JSON values (NaN and NaT become None)."""
    if value is None:
        return None
    if isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        f = float(value)
        return None if math.isnan(f) or math.isinf(f) else f
    if isinstance(value, np.ndarray | list | tuple | set | frozenset):
        return [json_value(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, pd.Timestamp):
        return None if pd.isna(value) else value.isoformat()
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, shapely.Geometry):
        return shapely.geometry.mapping(value)
    return str(value)


def _round(x: float) -> float:
    return round(float(x), 7)


def point_coordinates(lon: float, lat: float, crs: str = "wgs84") -> list[float]:
    if crs != "wgs84":
        lon, lat = convert(lon, lat, src="wgs84", dst=crs)
    return [_round(lon), _round(lat)]


def geometry_json(geom: Any, crs: str = "wgs84") -> dict[str, Any] | None:
    """GeoJSON geometry of a shapely geometry, coordinates converted from WGS-84 to ``crs``."""
    if geom is None or (isinstance(geom, float) and math.isnan(geom)) or geom.is_empty:
        return None
    if crs != "wgs84":
        geom = shapely.transform(
            geom, lambda xy: np.column_stack(convert(xy[:, 0], xy[:, 1], src="wgs84", dst=crs))
        )
    geom = shapely.set_precision(geom, 1e-7) if geom.geom_type != "Point" else geom
    mapped = shapely.geometry.mapping(geom)
    if mapped["type"] == "Point":
        mapped = {"type": "Point", "coordinates": [_round(c) for c in mapped["coordinates"]]}
    out: dict[str, Any] = json_value(mapped)
    return out


def features(
    gdf: Any, *, id_column: str | None = None, crs: str = "wgs84", drop: Iterable[str] = ()
) -> list[dict[str, Any]]:
    """GeoJSON Features of a GeoDataFrame (EPSG:4326) with output coordinates in ``crs``."""
    if gdf is None or len(gdf) == 0:
        return []
    geom_col = gdf.geometry.name
    skip = {geom_col, *drop}
    cols = [c for c in gdf.columns if c not in skip]
    out: list[dict[str, Any]] = []
    records = gdf[cols].to_dict(orient="records")
    for rec, geom in zip(records, gdf.geometry, strict=True):
        props = {str(k): json_value(v) for k, v in rec.items()}
        fid = props.get(id_column) if id_column else None
        out.append({"type": "Feature", "id": fid, "geometry": geometry_json(geom, crs), "properties": props})
    return out


def record_feature(
    rec: Mapping[str, Any], *, id_key: str = "station_id", crs: str = "wgs84"
) -> dict[str, Any]:
    """GeoJSON Feature of a record with ``lon``/``lat`` in WGS-84 (as the repository returns stations)."""
    props = {str(k): json_value(v) for k, v in rec.items() if k not in ("lon", "lat", "geometry")}
    lon, lat = rec.get("lon"), rec.get("lat")
    geometry = None
    if lon is not None and lat is not None:
        geometry = {"type": "Point", "coordinates": point_coordinates(float(lon), float(lat), crs)}
    return {"type": "Feature", "id": props.get(id_key), "geometry": geometry, "properties": props}


def page_links(
    base_url: str,
    params: Mapping[str, Any],
    *,
    limit: int,
    offset: int,
    total: int,
    media_type: str = GEOJSON,
) -> list[dict[str, Any]]:
    """``self``, ``next`` and ``prev`` links of one page (query parameters kept, repeatable ones too)."""

    def href(new_offset: int) -> str:
        pairs: list[tuple[str, Any]] = []
        for key, value in params.items():
            if key in ("offset", "limit") or value is None:
                continue
            if isinstance(value, list | tuple):
                pairs.extend((key, v) for v in value)
            else:
                pairs.append((key, value))
        pairs += [("limit", limit), ("offset", new_offset)]
        return f"{base_url}?{urlencode(pairs)}"

    links = [{"href": href(offset), "rel": "self", "type": media_type, "title": "this page"}]
    if offset + limit < total:
        links.append({"href": href(offset + limit), "rel": "next", "type": media_type, "title": "next page"})
    if offset > 0:
        links.append(
            {
                "href": href(max(0, offset - limit)),
                "rel": "prev",
                "type": media_type,
                "title": "previous page",
            }
        )
    return links
