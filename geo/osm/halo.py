"""Areas (county polygons with codes) and the travel-time halo a network is clipped to.

A network for an area keeps every arc whose two end nodes lie inside the area's polygon
buffered by the distance the mode covers in ``halo_minutes`` (speed × minutes, in metres), so
travel times inside the area are exact up to that many minutes. The buffer is computed in an
azimuthal equidistant projection centred on the area (metres, not degrees) and returned in
WGS-84 (EPSG:4326).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry.base import BaseGeometry

from geo.errors import InputError, NotFoundError


@dataclass(frozen=True, eq=False)
class Area:
    """One area: its code (string, e.g. an adcode), name and WGS-84 polygon."""

    code: str | None
    name: str | None
    geometry: BaseGeometry

    @property
    def label(self) -> str:
        """How messages name the area."""
        if self.code and self.name:
            return f"{self.code} ({self.name})"
        return self.code or self.name or "(unnamed)"


def halo_meters(speed_kph: float, minutes: float) -> float:
    """Distance in metres covered in ``minutes`` at ``speed_kph``."""
    return float(speed_kph) * 1000.0 / 60.0 * float(minutes)


def buffer_meters(geom: BaseGeometry, meters: float) -> BaseGeometry:
    """``geom`` (WGS-84) buffered by ``meters`` in a local azimuthal equidistant projection."""
    if meters <= 0:
        return geom
    from pyproj import Transformer

    c = geom.centroid
    local = f"+proj=aeqd +lat_0={c.y} +lon_0={c.x} +datum=WGS84 +units=m +no_defs"
    fwd = Transformer.from_crs("EPSG:4326", local, always_xy=True)
    inv = Transformer.from_crs(local, "EPSG:4326", always_xy=True)

    def apply(t: Transformer) -> Any:
        def f(xy: NDArray[np.float64]) -> NDArray[np.float64]:
            x, y = t.transform(xy[:, 0], xy[:, 1])
            return np.column_stack([x, y])

        return f

    projected = shapely.transform(geom, apply(fwd))
    return shapely.transform(shapely.buffer(projected, meters, quad_segs=32), apply(inv))


def area_metadata(area: Area, *, halo_minutes: float, halo_m: float) -> dict[str, Any]:
    """What a network's options record about the area it was clipped to (JSON-ready)."""
    return {
        "code": area.code,
        "name": area.name,
        "halo_minutes": float(halo_minutes),
        "halo_m": round(float(halo_m), 3),
        "polygon": shapely.geometry.mapping(area.geometry),
    }


def _code_text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip() or None


def read_area_polygons(path: str | Path, *, code_field: str | None = "adcode") -> list[Area]:
    """Read the polygons of an areas file (GeoJSON/GPKG/SHP, any CRS → WGS-84).

    Parameters
    ----------
    path : str or Path
    code_field : str, optional
        Column holding the area code (kept as text); ``None`` reads the file as one unnamed area
        (the union of its features).

    Raises
    ------
    InputError
        Missing code column, empty/duplicate codes, no polygon.
    """
    from geo.vector import read_vector_file

    path = Path(path)
    if not path.exists():
        raise NotFoundError(f"area file {str(path)!r} does not exist", field="areas")
    frame = read_vector_file(path, what="an area file", field="areas")
    if frame.crs is not None:
        frame = frame.to_crs("EPSG:4326")
    frame = frame[frame.geometry.notna() & frame.geom_type.isin(["Polygon", "MultiPolygon"])]
    if frame.empty:
        raise InputError(f"{path.name} holds no polygon", field="areas")
    if code_field is None:
        return [Area(code=None, name=None, geometry=shapely.union_all(frame.geometry.values))]
    if code_field not in frame.columns:
        fields = ", ".join(str(c) for c in frame.columns if c != "geometry")
        raise InputError(
            f"{path.name} has no code field {code_field!r} (fields: {fields})", field="code_field"
        )
    names = frame["name"] if "name" in frame.columns else [None] * len(frame)
    areas: dict[str, Area] = {}
    for code_raw, name, geom in zip(frame[code_field], names, frame.geometry.values, strict=True):
        code = _code_text(code_raw)
        if code is None:
            raise InputError(f"{path.name}: a feature has an empty {code_field!r}", field="code_field")
        if code in areas:  # several features of one area: one (multi)polygon
            geom = shapely.union(areas[code].geometry, geom)
        areas[code] = Area(code=code, name=None if name is None else str(name), geometry=geom)
    return list(areas.values())


def pick_area(areas: list[Area], code: str | None, *, path: str | Path) -> Area:
    """The area with ``code``; without a code, the only area (or the union of all, unnamed)."""
    if code is None:
        if len(areas) == 1:
            return areas[0]
        return Area(code=None, name=None, geometry=shapely.union_all([a.geometry for a in areas]))
    for area in areas:
        if area.code == str(code):
            return area
    raise NotFoundError(f"{Path(path).name} has no area with code {code!r}", field="area_code")
