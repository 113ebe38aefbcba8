"""Station files: reading (CSV UTF-8/BOM/GBK, XLSX, GeoJSON, GPKG), header mapping, row validation
and export.

Every row is checked by one code path (:func:`validate_station` / :func:`validate_record`) that the
PostGIS repository also uses for create and update. Coordinates given in GCJ-02 (Amap, Tencent) or
BD-09 (Baidu) are converted to WGS-84 (EPSG:4326) with :mod:`geo.crs`; the frame keeps the CRS they
came in as ``source_crs``.

Row numbers are the ones a spreadsheet shows (the header is row 1, the first station row 2); for
GeoJSON the row is the 1-based feature number.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry import Point

from geo import catalog
from geo import crs as gcrs
from geo.errors import InputError
from geo.hours import normalize_opening_hours
from geo.text import (
    CONTROL_CHARS,
    atomic_path,
    control_char_message,
    normalize_newlines,
    unneutralise_formula,
    write_csv,
    write_xlsx,
)
from geo.vector import read_vector_file

logger = logging.getLogger(__name__)

#: canonical stations-frame columns (docs/ARCHITECTURE.md), geometry last
CANONICAL_COLUMNS: tuple[str, ...] = (
    "station_id", "name", "kind", "status", "amenities", "opening_hours", "address", "host_org",
    "phone", "township_code", "township_name", "source_crs",
)
#: further columns the file frames and the store carry
EXTRA_COLUMNS: tuple[str, ...] = (
    "source", "external_id", "county_name", "county_code", "community_name", "community_code",
    "seats", "floor_area_m2",
)
#: the validated, stored attributes of a station (besides its point)
STATION_FIELDS: tuple[str, ...] = (
    "name", "kind", "status", "address", "county_name", "county_code", "township_name",
    "township_code", "community_name", "community_code", "amenities", "opening_hours", "host_org",
    "phone", "seats", "floor_area_m2", "source_crs",
)
_TEXT_FIELDS = (
    "address", "host_org", "phone", "county_name", "county_code", "township_name", "township_code",
    "community_name", "community_code",
)
#: headers recognised besides data/column_aliases.toml (written by :func:`export_stations`)
_BUILTIN_ALIASES: dict[str, tuple[str, ...]] = {
    "source": ("source", "来源", "数据来源"),
    "source_crs": ("source_crs", "原始坐标系"),
    "coordinates_crs": ("coordinates_crs", "坐标系", "坐标系统"),
    "station_id": ("station_id",),
    "location": ("location", "经纬度", "坐标", "lnglat", "lng_lat", "经纬度坐标"),
}
EXPORT_FORMATS: tuple[str, ...] = ("geojson", "csv", "xlsx", "gpkg")
DUPLICATE_METERS = 20.0
#: amenity cells are split on these first, then a piece that names no amenity on spaces
AMENITY_SEPARATORS = re.compile(r"[、，,;；/|]+")
_SUFFIX_FORMAT = {
    ".csv": "csv", ".txt": "csv", ".tsv": "csv", ".xlsx": "xlsx", ".xlsm": "xlsx", ".geojson": "geojson",
    ".json": "geojson", ".gpkg": "gpkg", ".shp": "shp",
}


@dataclass(frozen=True, slots=True)
class RowError:
    """One problem in one row of a station file."""

    row: int
    field: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"row": self.row, "field": self.field, "message": self.message}


@dataclass(frozen=True, eq=False)
class ImportReport:
    """What :func:`read_station_file` found.

    Attributes
    ----------
    frame
        Canonical stations frame (EPSG:4326) of the valid rows, with a ``row`` column.
    errors
        Every row error, in row order.
    columns
        Recognised headers, ``header -> field``.
    rows_total
        Number of non-empty station rows in the file.
    crs
        CRS the coordinates were read in (``wgs84``, ``gcj02`` or ``bd09``).
    """

    frame: gpd.GeoDataFrame
    errors: tuple[RowError, ...] = ()
    columns: dict[str, str] = field(default_factory=dict)
    rows_total: int = 0
    crs: str = "wgs84"
    source: str | None = None
    encoding: str | None = None
    ignored_columns: tuple[str, ...] = ()

    @property
    def rows_valid(self) -> int:
        return len(self.frame)

    @property
    def ok(self) -> bool:
        """True when no row has an error."""
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows_total": self.rows_total,
            "rows_valid": self.rows_valid,
            "crs": self.crs,
            "encoding": self.encoding,
            "columns": dict(self.columns),
            "ignored_columns": list(self.ignored_columns),
            "errors": [e.to_dict() for e in self.errors],
        }


# --------------------------------------------------------------------------------------------------
# headers


def _norm_header(text: Any) -> str:
    s = "".join(str(text).split()).lower()
    return s.replace("（", "(").replace("）", ")").replace("\ufeff", "")


def _alias_table() -> dict[str, str]:
    table: dict[str, str] = {}
    for fld, names in {**catalog.column_aliases(), **_BUILTIN_ALIASES}.items():
        for name in (fld, *names):
            table.setdefault(_norm_header(name), fld)
    return table


def map_headers(headers: Iterable[Any]) -> tuple[dict[str, str], tuple[str, ...]]:
    """Map file headers (Chinese or English, see ``data/column_aliases.toml``) to station fields.

    Returns
    -------
    (dict, tuple)
        ``header -> field`` for recognised headers (the first header wins when two name the same
        field) and the headers left unused.
    """
    table = _alias_table()
    mapping: dict[str, str] = {}
    ignored: list[str] = []
    taken: set[str] = set()
    for header in headers:
        if header is None or str(header).strip() == "":
            continue
        fld = table.get(_norm_header(header))
        if fld is None or fld in taken:
            ignored.append(str(header))
            continue
        mapping[str(header)] = fld
        taken.add(fld)
    return mapping, tuple(ignored)


def _crs_from_headers(mapping: Mapping[str, str]) -> str | None:
    for header, fld in mapping.items():
        if fld in ("lon", "lat"):
            h = _norm_header(header)
            if "gcj" in h:
                return "gcj02"
            if h.startswith("bd") or "bd09" in h or "百度" in h:
                return "bd09"
    return None


# --------------------------------------------------------------------------------------------------
# cell cleaning and validation (one code path for files, frames and the API)


def _is_blank(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    if isinstance(value, str):
        return value.strip() in ("", "nan", "NaN", "None", "null", "-", "—")
    try:
        return bool(pd.isna(value)) if not isinstance(value, list | tuple | set | np.ndarray) else False
    except (TypeError, ValueError):
        return False


def _text(value: Any) -> str | None:
    """Clean a cell to text; integral floats (Excel numbers) lose their ``.0``."""
    if _is_blank(value):
        return None
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, np.floating) and float(value).is_integer():
        return str(int(value))
    return normalize_newlines(str(value)).strip() or None


def _number(value: Any) -> float | None:
    """Parse a number; ``None`` if blank; raises ValueError if not a finite number."""
    if _is_blank(value):
        return None
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int | float | np.integer | np.floating):
        out = float(value)
    else:
        s = str(value).strip().replace("，", ".").replace("°", "")
        s = s.translate(str.maketrans("０１２３４５６７８９．－", "0123456789.-"))
        out = float(s)
    if not math.isfinite(out):
        raise ValueError(value)
    return out


def _normalize_hours(text: str) -> str:
    return normalize_opening_hours(text, field="opening_hours")


def _parse_amenities(value: Any) -> tuple[list[str], list[str]]:
    """Return (codes in catalog order, unknown words)."""
    if _is_blank(value):
        return [], []
    if isinstance(value, str):
        words = [w.strip() for w in AMENITY_SEPARATORS.split(value.strip()) if w.strip()]
        if value.strip().startswith("["):
            try:
                loaded = json.loads(value)
                words = [str(w) for w in loaded] if isinstance(loaded, list) else words
            except (ValueError, RecursionError):  # not JSON, too deep, or an integer too long
                pass
    elif isinstance(value, Iterable):
        words = [str(w).strip() for w in value if not _is_blank(w)]
    else:
        words = [str(value)]
    codes: set[str] = set()
    unknown: list[str] = []
    for phrase in words:
        try:  # a whole phrase first ("Drinking water"), then its space-separated words
            codes.add(catalog.resolve_amenity(phrase))
            continue
        except InputError:
            pass
        for word in phrase.split():
            try:
                codes.add(catalog.resolve_amenity(word))
            except InputError:
                unknown.append(word)
    order = catalog.amenity_codes()
    return [c for c in order if c in codes], unknown


#: longest text a cell may hold (the csv module's default field limit)
MAX_CELL_CHARS = 131_072

Problems = list[tuple[str, str]]


def validate_record(
    raw: Mapping[str, Any], *, crs: str = "wgs84", fix_swapped: bool = False
) -> tuple[dict[str, Any] | None, list[tuple[str, str]]]:
    """Validate one station given as ``field -> raw value`` (fields as in :data:`STATION_FIELDS`
    plus ``lon``/``lat`` in ``crs``, ``external_id``, ``source``).

    Returns
    -------
    (dict or None, list)
        The clean record (``lon``/``lat`` in WGS-84) or ``None``, and every ``(field, message)``.
    """
    out, point, errors = _check_fields(raw, crs=crs)
    if point is not None:
        placed = place_points(np.array([point[0]]), np.array([point[1]]), np.array([crs]),
                              fix_swapped=fix_swapped)
        _apply_place(out, errors, placed, 0)
    return (None if errors else out), errors


def _check_fields(
    raw: Mapping[str, Any], *, crs: str
) -> tuple[dict[str, Any], tuple[float, float] | None, Problems]:
    """Every check of one station but the point's place: the clean fields, the point as given
    (``None`` when it could not be read, or after an earlier error), and the problems."""
    errors: Problems = _cell_problems(raw)
    if errors:  # control characters or huge cells: nothing else is worth reading
        return {}, None, errors
    raw = _split_location(raw, errors)
    out: dict[str, Any] = {"external_id": _text(raw.get("external_id")), "source": _text(raw.get("source"))}
    _check_name(raw, out, errors)
    point = _read_point(raw, errors) if not errors else None
    _check_codes(raw, out, errors)
    for key in _TEXT_FIELDS:
        out[key] = _text(raw.get(key))
    _check_sizes(raw, out, errors)
    src_crs = _text(raw.get("source_crs"))
    try:
        out["source_crs"] = gcrs.resolve_crs(src_crs, field="source_crs") if src_crs else crs
    except InputError as exc:
        errors.append(("source_crs", exc.message))
    return out, point, errors


@dataclass(frozen=True)
class PlacedPoints:
    """Points checked and converted by :func:`place_points`: WGS-84 coordinates, and per point the
    problem (``None`` when it lies in mainland China, after fixing a swap when asked)."""

    lon: np.ndarray
    lat: np.ndarray
    problems: tuple[str | None, ...]


def place_points(
    lon: np.ndarray, lat: np.ndarray, crs: np.ndarray, *, fix_swapped: bool = False
) -> PlacedPoints:
    """Check that points (in the CRS of each, ``crs``) lie in mainland China, swap or report the ones
    that look swapped, and convert them to WGS-84, vectorised (one file's rows in one call)."""
    lon, lat = np.asarray(lon, dtype=float).copy(), np.asarray(lat, dtype=float).copy()
    outside = ~np.asarray(gcrs.in_mainland_china(lon, lat), dtype=bool)
    problems: list[str | None] = [None] * len(lon)
    if outside.any():
        swapped = outside & np.asarray(gcrs.looks_swapped(lon, lat), dtype=bool)
        for i in np.flatnonzero(outside):
            x, y = float(lon[i]), float(lat[i])
            if not swapped[i]:
                problems[i] = f"coordinate ({x}, {y}) is outside mainland China"
            elif not fix_swapped:
                problems[i] = (
                    f"latitude and longitude look swapped: ({x}, {y}) is outside mainland China "
                    f"but ({y}, {x}) is inside; swap the columns or use fix_swapped (--fix-swapped)"
                )
        if fix_swapped:
            lon[swapped], lat[swapped] = lat[swapped], lon[swapped].copy()
    crs = np.asarray(crs)
    for name in set(crs.tolist()) - {"wgs84"}:
        rows = crs == name
        lon[rows], lat[rows] = gcrs.convert(lon[rows], lat[rows], src=name, dst="wgs84")
    return PlacedPoints(lon=lon, lat=lat, problems=tuple(problems))


def _apply_place(out: dict[str, Any], errors: Problems, placed: PlacedPoints, i: int) -> None:
    if placed.problems[i] is not None:
        errors.append(("lon", str(placed.problems[i])))
    else:
        out["lon"], out["lat"] = float(placed.lon[i]), float(placed.lat[i])


def _cell_problems(raw: Mapping[str, Any]) -> Problems:
    """Control characters (see :mod:`geo.text`) and cells over :data:`MAX_CELL_CHARS`, per field."""
    errors: Problems = []
    strings: list[str] = []
    for value in raw.values():
        if isinstance(value, str):
            strings.append(value)
        elif isinstance(value, list | tuple):
            break
    else:  # the common case, no list: one scan of every cell
        longest = max(map(len, strings), default=0)
        if longest <= MAX_CELL_CHARS and not CONTROL_CHARS.search("\n".join(strings)):
            return errors
    for key, value in raw.items():
        texts = [value] if isinstance(value, str) else (
            [v for v in value if isinstance(v, str)] if isinstance(value, list | tuple) else []
        )
        for text in texts:
            if len(text) > MAX_CELL_CHARS:
                errors.append((key, f"{key} is {len(text):,} characters long; at most {MAX_CELL_CHARS:,}"))
                break
            message = control_char_message(normalize_newlines(text))
            if message is not None:
                errors.append((key, f"{key} {message}"))
                break
    return errors


def _split_location(raw: Mapping[str, Any], errors: Problems) -> Mapping[str, Any]:
    """A ``location`` cell ("lon,lat") as ``lon``/``lat`` when those are blank."""
    location = _text(raw.get("location"))
    if location and _is_blank(raw.get("lon")) and _is_blank(raw.get("lat")):
        parts = [p for p in re.split(r"[,，\s;；]+", location.strip("()（）[] ")) if p]
        if len(parts) == 2:
            return {**raw, "lon": parts[0], "lat": parts[1]}
        errors.append(("location", f"location {location!r} is not 'longitude,latitude'"))
    return raw


def _check_name(raw: Mapping[str, Any], out: dict[str, Any], errors: Problems) -> None:
    name = _text(raw.get("name"))
    if name is None:
        errors.append(("name", "missing name"))
    elif len(name) > 200:
        errors.append(("name", f"name is {len(name)} characters long; at most 200"))
    out["name"] = name


def _read_point(raw: Mapping[str, Any], errors: Problems) -> tuple[float, float] | None:
    """``lon``/``lat`` as finite numbers (as given; :func:`place_points` checks and converts them)."""
    coords: dict[str, float] = {}
    for key, word in (("lon", "longitude"), ("lat", "latitude")):
        value = raw.get(key)
        try:
            num = _number(value)
        except (ValueError, TypeError, OverflowError):
            errors.append((key, f"{word} {_shown(value)} is not a number"))
            continue
        if num is None:
            errors.append((key, f"missing {word}"))
        else:
            coords[key] = num
    return (coords["lon"], coords["lat"]) if len(coords) == 2 else None


def _check_codes(raw: Mapping[str, Any], out: dict[str, Any], errors: Problems) -> None:
    """Kind, status and amenities from the catalog (codes or labels); opening hours normalised."""
    kind = _text(raw.get("kind"))
    try:
        out["kind"] = "other" if kind is None else catalog.resolve_kind(kind)
    except InputError as exc:
        errors.append(("kind", exc.message))
    status = _text(raw.get("status"))
    try:
        out["status"] = "open" if status is None else catalog.resolve_status(status)
    except InputError as exc:
        errors.append(("status", exc.message))
    codes, unknown = _parse_amenities(raw.get("amenities"))
    if unknown:
        known = ", ".join(catalog.amenity_codes())
        errors.append(("amenities", f"unknown amenity {'、'.join(unknown)!r}; known amenities: {known}"))
    out["amenities"] = codes
    hours_text = _text(raw.get("opening_hours"))
    out["opening_hours"] = None
    if hours_text is not None:
        try:
            out["opening_hours"] = _normalize_hours(hours_text)
        except InputError as exc:
            errors.append(("opening_hours", f"bad opening hours {hours_text!r}: {exc.message}"))


def _check_sizes(raw: Mapping[str, Any], out: dict[str, Any], errors: Problems) -> None:
    """Seats (a whole number ≥ 0) and floor area (square metres ≥ 0, units stripped)."""
    seats = raw.get("seats")
    out["seats"] = None
    try:
        num = _number(seats)
        if num is not None:
            if not float(num).is_integer() or num < 0:
                raise ValueError(seats)
            out["seats"] = int(num)
    except (ValueError, TypeError, OverflowError):
        errors.append(("seats", f"seats {_shown(seats)} is not a whole number ≥ 0"))
    area = raw.get("floor_area_m2")
    out["floor_area_m2"] = None
    try:
        cleaned = re.sub(r"(平方米|㎡|m2|m²|平米)$", "", str(area).strip()) if isinstance(area, str) else area
        num = _number(cleaned)
        if num is not None:
            if num < 0:
                raise ValueError(area)
            out["floor_area_m2"] = num
    except (ValueError, TypeError, OverflowError):
        errors.append(("floor_area_m2", f"floor area {_shown(area)} is not a number of square metres ≥ 0"))


def _shown(value: Any, limit: int = 60) -> str:
    """``repr`` of a bad value for a message, cut to ``limit`` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def props_to_fields(props: Mapping[str, Any]) -> dict[str, Any]:
    """Map a props dict keyed by field names or header aliases to station fields.

    A GeoJSON-like ``geometry`` (``{"type": "Point", "coordinates": [lon, lat]}``) or a shapely
    point gives ``lon``/``lat``.
    """
    mapping, _ = map_headers(k for k in props if k != "geometry")
    raw: dict[str, Any] = {fld: props[header] for header, fld in mapping.items()}
    geom = props.get("geometry")
    if isinstance(geom, Point):
        raw["lon"], raw["lat"] = geom.x, geom.y
    elif isinstance(geom, Mapping) and geom.get("type") == "Point":
        coords = list(geom.get("coordinates") or [])
        if len(coords) >= 2:
            raw["lon"], raw["lat"] = coords[0], coords[1]
    return raw


def validate_station(
    props: Mapping[str, Any], *, crs: str = "wgs84", fix_swapped: bool = False
) -> dict[str, Any]:
    """Validate one station (API create/update) with the same rules as a file row.

    Raises
    ------
    InputError
        On the first problem, with ``field`` set.
    """
    crs = gcrs.resolve_crs(crs)
    clean, errors = validate_record(props_to_fields(props), crs=crs, fix_swapped=fix_swapped)
    if errors or clean is None:
        fld, message = errors[0]
        raise InputError(message, field=fld)
    return clean


# --------------------------------------------------------------------------------------------------
# duplicates


def similar_names(a: str | None, b: str | None) -> bool:
    """Whether two station names are alike (equal after normalising, one inside the other, or ≥ 0.8
    similar)."""
    if not a or not b:
        return False
    na = re.sub(r"[\s\W_]+", "", a).lower()
    nb = re.sub(r"[\s\W_]+", "", b).lower()
    if not na or not nb:
        return False
    if na == nb or (min(len(na), len(nb)) >= 2 and (na in nb or nb in na)):
        return True
    return SequenceMatcher(None, na, nb).ratio() >= 0.8


def local_meters(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """WGS-84 degrees as local metres (x east, y north; equirectangular at the mean latitude)."""
    lat0 = float(np.mean(lat)) if len(lat) else 0.0
    k = 111_320.0
    return np.column_stack([lon * k * math.cos(math.radians(lat0)), lat * 110_574.0])


def auto_external_id(name: str, lon: float, lat: float) -> str:
    """Stable id for a row without one: hash of name and WGS-84 position (≈ 1 m)."""
    digest = hashlib.sha1(f"{name}|{lon:.5f}|{lat:.5f}".encode()).hexdigest()[:12]
    return f"auto-{digest}"


#: at most this many stations may share one spot (a grid cell of DUPLICATE_METERS / √2 across, all of
#: whose points lie within DUPLICATE_METERS of each other); more means geocoding failed (every row
#: put at a district's centre), and the rows of such a spot are reported instead of compared pairwise
MAX_PER_SPOT = 20


def file_duplicates(records: Sequence[tuple[int, dict[str, Any]]]) -> dict[int, tuple[str, str]]:
    """Find duplicates within a file: same (source, id), or similar name within 20 m under another id.

    O(n log n) time and O(n) memory whatever the layout: rows on an over-full spot
    (:data:`MAX_PER_SPOT`) are reported as such (:func:`_crowded_rows`) and left out of the pairwise
    comparison, so that every remaining row has a bounded number of neighbours within 20 m. Row
    ``j`` is a duplicate of the earliest row ``i < j`` not itself reported with which it forms a
    close pair of similar names.
    """
    out: dict[int, tuple[str, str]] = {}
    seen: dict[tuple[str | None, str], int] = {}
    for row, rec in records:
        key = (rec.get("source"), rec["external_id"])
        if key in seen:
            out[row] = ("external_id", f"duplicate of row {seen[key]}: same id {rec['external_id']!r}")
        else:
            seen[key] = row
    if len(records) < 2:
        return out
    xy = local_meters(np.array([r["lon"] for _, r in records]), np.array([r["lat"] for _, r in records]))
    out.update(_crowded_rows(records, xy, skip=out))
    _close_similar_pairs(records, xy, out)
    return out


def _crowded_rows(
    records: Sequence[tuple[int, dict[str, Any]]], xy: np.ndarray, *, skip: Mapping[int, Any]
) -> dict[int, tuple[str, str]]:
    """Rows on a grid cell (side DUPLICATE_METERS / √2) holding more than :data:`MAX_PER_SPOT` rows."""
    cells = np.floor(xy / (DUPLICATE_METERS / math.sqrt(2))).astype(np.int64)
    _, inverse, counts = np.unique(cells, axis=0, return_inverse=True, return_counts=True)
    per_row = counts[inverse.reshape(-1)]
    out: dict[int, tuple[str, str]] = {}
    messages: dict[int, tuple[str, str]] = {}  # one per spot, shared by its rows
    for i in np.flatnonzero(per_row > MAX_PER_SPOT):
        row, rec = records[int(i)]
        cell = int(inverse.reshape(-1)[i])
        if cell not in messages:
            messages[cell] = ("lon", (
                f"{int(per_row[i]):,} rows lie within {DUPLICATE_METERS:.0f} m of each other at "
                f"({rec['lon']:.5f}, {rec['lat']:.5f}); at most {MAX_PER_SPOT} stations may share a spot "
                "(were the addresses geocoded to a district centre?)"
            ))
        if row not in skip:
            out[row] = messages[cell]
    return out


def _close_similar_pairs(
    records: Sequence[tuple[int, dict[str, Any]]], xy: np.ndarray, out: dict[int, tuple[str, str]]
) -> None:
    """Mark row ``j`` a duplicate of an earlier unmarked row ``i`` within 20 m with a similar name."""
    from scipy.spatial import cKDTree

    keep = np.array([row not in out for row, _ in records])
    index = np.flatnonzero(keep)
    if len(index) < 2:
        return
    pairs = cKDTree(xy[index]).query_pairs(DUPLICATE_METERS, output_type="ndarray")
    if not len(pairs):
        return
    pairs = index[pairs]
    pairs.sort(axis=1)
    for i, j in pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))].tolist():
        (row_i, a), (row_j, b) = records[i], records[j]
        if row_j in out or row_i in out:
            continue
        if a["external_id"] != b["external_id"] and similar_names(a["name"], b["name"]):
            near = f"is within {DUPLICATE_METERS:.0f} m of {a['name']!r}"
            out[row_j] = ("name", f"duplicate of row {row_i}: {b['name']!r} {near}")


# --------------------------------------------------------------------------------------------------
# frames


def empty_stations_frame() -> gpd.GeoDataFrame:
    """An empty canonical stations frame (EPSG:4326)."""
    cols = list(CANONICAL_COLUMNS) + list(EXTRA_COLUMNS)
    return gpd.GeoDataFrame({c: pd.Series(dtype=object) for c in cols}, geometry=[], crs="EPSG:4326")


def records_to_frame(records: Sequence[dict[str, Any]], *, id_field: str = "external_id") -> gpd.GeoDataFrame:
    """Build a canonical stations frame from clean records (``lon``/``lat`` WGS-84)."""
    if not records:
        return empty_stations_frame()
    rows = []
    for rec in records:
        row = {c: rec.get(c) for c in (*CANONICAL_COLUMNS, *EXTRA_COLUMNS)}
        row["station_id"] = rec.get(id_field)
        row["amenities"] = list(rec.get("amenities") or [])
        for extra in ("row", "created_at", "updated_at"):
            if extra in rec:
                row[extra] = rec[extra]
        rows.append(row)
    geometry = gpd.points_from_xy([r["lon"] for r in records], [r["lat"] for r in records])
    frame = gpd.GeoDataFrame(pd.DataFrame(rows), geometry=geometry, crs="EPSG:4326")
    for col in (*CANONICAL_COLUMNS, *EXTRA_COLUMNS):
        if col not in ("amenities", "seats", "floor_area_m2", "station_id"):
            frame[col] = frame[col].astype(object).where(frame[col].notna(), None)
    frame["seats"] = frame["seats"].astype("Int64")
    frame["floor_area_m2"] = pd.to_numeric(frame["floor_area_m2"], errors="coerce").astype(float)
    return frame


def build_report(
    rows: Iterable[tuple[int, dict[str, Any]]],
    *,
    columns: dict[str, str],
    crs: str,
    source: str | None,
    fix_swapped: bool = False,
    encoding: str | None = None,
    ignored_columns: tuple[str, ...] = (),
) -> ImportReport:
    """Validate ``(row number, field -> raw value)`` pairs into an :class:`ImportReport`: each row's
    fields (:func:`validate_record`'s checks), every point placed in one vectorised call, then the
    duplicates within the file."""
    errors: list[RowError] = []
    checked: list[tuple[int, dict[str, Any], Problems]] = []
    points: list[tuple[int, float, float, str]] = []  # (index in checked, lon, lat, crs)
    rows_total = 0
    for row, raw in rows:
        rows_total += 1
        row_crs = crs
        stated = _text(raw.get("coordinates_crs"))
        if stated:
            try:
                row_crs = gcrs.resolve_crs(stated, field="coordinates_crs")
            except InputError as exc:
                errors.append(RowError(row, "coordinates_crs", exc.message))
                continue
        out, point, problems = _check_fields(raw, crs=row_crs)
        if point is not None:
            points.append((len(checked), point[0], point[1], row_crs))
        checked.append((row, out, problems))
    if points:
        placed = place_points(np.array([p[1] for p in points]), np.array([p[2] for p in points]),
                              np.array([p[3] for p in points]), fix_swapped=fix_swapped)
        for k, (i, *_) in enumerate(points):
            _apply_place(checked[i][1], checked[i][2], placed, k)
    good: list[tuple[int, dict[str, Any]]] = []
    for row, clean, problems in _drain(checked):
        errors.extend(RowError(row, f, m) for f, m in problems)
        if problems:
            continue
        if clean["external_id"] is None:
            clean["external_id"] = auto_external_id(clean["name"], clean["lon"], clean["lat"])
        clean["row"] = row
        # (only the values given: a file of 50,000 rows holds 50,000 of these until the end)
        good.append((row, {k: v for k, v in clean.items() if v is not None}))
    dups = file_duplicates(good)
    errors.extend(RowError(row, f, m) for row, (f, m) in dups.items())
    valid = [rec for row, rec in good if row not in dups]
    frame = records_to_frame(valid)
    errors.sort(key=lambda e: (e.row, e.field))
    return ImportReport(
        frame=frame, errors=tuple(errors), columns=columns, rows_total=rows_total, crs=crs, source=source,
        encoding=encoding, ignored_columns=ignored_columns,
    )


def _drain(items: list[Any]) -> Iterator[Any]:
    """Yield the items of a list, releasing each from the list as it goes (bounded peak memory)."""
    items.reverse()
    while items:
        yield items.pop()


# --------------------------------------------------------------------------------------------------
# readers


def _decode(data: bytes) -> tuple[str, str]:
    """Decode CSV bytes: UTF-8 with BOM, UTF-8, else GB18030 (a superset of GBK/GB2312)."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data.decode("utf-8-sig"), "utf-8-sig"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030"), "gb18030"
    except UnicodeDecodeError as exc:
        raise InputError(
            f"cannot decode the file as UTF-8 or GBK/GB18030 (byte {exc.start})", field="file"
        ) from exc


def _table_rows(header: Sequence[Any], body: Iterable[Sequence[Any]], mapping: Mapping[str, str],
                first_row: int = 2, *, csv_text: bool = False) -> list[tuple[int, dict[str, Any]]]:
    """``(row number, field -> cell)`` of the non-blank rows; CSV cells lose the ``'`` that an export
    put before a formula character (:func:`geo.text.neutralise_formula`)."""
    index = {i: mapping[str(h)] for i, h in enumerate(header) if h is not None and str(h) in mapping}
    out = []
    for n, values in enumerate(body, start=first_row):
        if all(_is_blank(v) for v in values):
            continue
        row = {fld: (values[i] if i < len(values) else None) for i, fld in index.items()}
        if csv_text:
            row = {fld: unneutralise_formula(v) for fld, v in row.items()}
        out.append((n, row))
    return out


def _read_csv_table(path: Path) -> tuple[list[Any], list[list[Any]], str]:
    """Header and rows of a CSV file. Line ends may be LF, CR LF or CR alone (classic Mac Excel);
    cells may be of any length here (:func:`validate_record` reports the over-long ones by row)."""
    text, encoding = _decode(path.read_bytes())
    sample = text[:8192]
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    csv.field_size_limit(max(csv.field_size_limit(), len(text) + 1))
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    try:
        rows = list(reader)
    except csv.Error as exc:
        raise InputError(
            f"{path.name}: cannot read line {reader.line_num} as CSV: {exc}", field="file"
        ) from None
    if not rows:
        raise InputError(f"{path.name} is empty", field="file")
    return rows[0], rows[1:], encoding


def _read_xlsx_table(path: Path) -> tuple[list[Any], list[list[Any]]]:
    from openpyxl import load_workbook

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a broken file
        raise InputError(f"cannot read {path.name} as XLSX: {exc}", field="file") from exc
    try:
        ws = wb.active
        if ws is None:
            raise InputError(f"{path.name} has no worksheet", field="file")
        rows = [list(r) for r in ws.iter_rows(values_only=True)]
    finally:
        wb.close()
    if not rows:
        raise InputError(f"{path.name} is empty", field="file")
    return rows[0], rows[1:]


def _feature_rows(features: Sequence[Any]) -> tuple[dict[str, str], tuple[str, ...],
                                                    list[tuple[int, dict[str, Any]]]]:
    """Rows of GeoJSON features. A feature that is not an object, properties that are not an
    object and a geometry that is not a GeoJSON Point are row errors (``_geometry_error`` /
    ``_feature_error``), never exceptions."""
    headers: dict[str, None] = {}
    for feat in features:
        props = feat.get("properties") if isinstance(feat, Mapping) else None
        if isinstance(props, Mapping):
            headers.update(dict.fromkeys(str(k) for k in props))
    mapping, ignored = map_headers(headers)
    rows = []
    for n, feat in enumerate(features, start=1):
        if not isinstance(feat, Mapping):
            problem = f"feature is {_json_kind(feat)}, not a GeoJSON Feature object"
            rows.append((n, {"_feature_error": problem}))
            continue
        props = feat.get("properties")
        if props is not None and not isinstance(props, Mapping):
            rows.append((n, {"_feature_error": f"properties is {_json_kind(props)}, not an object"}))
            continue
        props = props or {}
        raw: dict[str, Any] = {fld: props.get(h) for h, fld in mapping.items()}
        geometry_problem = _point_of(feat.get("geometry"), raw)
        if geometry_problem:
            raw["lon"] = raw["lat"] = None
            raw["_geometry_error"] = geometry_problem
        rows.append((n, raw))
    return mapping, ignored, rows


def _point_of(geom: Any, raw: dict[str, Any]) -> str | None:
    """Put a GeoJSON Point's coordinates in ``raw``; return what is wrong with any other geometry."""
    if geom is None or geom == {}:
        return None
    if not isinstance(geom, Mapping):
        return f"geometry is {_json_kind(geom)}, not a GeoJSON object (WKT is not read here)"
    kind = geom.get("type")
    if kind != "Point":
        return f"geometry is a {_shown(kind, 40)}, not a Point"
    coords = geom.get("coordinates")
    if not isinstance(coords, list | tuple) or len(coords) < 2:
        return f"Point coordinates {_shown(coords)} are not [longitude, latitude]"
    raw["lon"], raw["lat"] = coords[0], coords[1]
    return None


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        return f"the text {_shown(value, 40)}"
    return {list: "an array", bool: "a boolean", int: "a number", float: "a number"}.get(
        type(value), type(value).__name__
    )


def _load_json(path: Path) -> Any:
    """Parse a JSON file; malformed, too deeply nested or over-long numbers are InputError."""
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"cannot read {path.name} as GeoJSON: {exc}", field="file") from None
    except RecursionError:
        raise InputError(f"cannot read {path.name} as GeoJSON: nested too deeply", field="file") from None
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits
        raise InputError(f"cannot read {path.name} as GeoJSON: {exc}", field="file") from None


def _table_file_rows(path: Path, fmt: str) -> tuple[dict[str, str], tuple[str, ...],
                                                     list[tuple[int, dict[str, Any]]], str | None]:
    """Header mapping, ignored headers, rows and encoding of a CSV or XLSX station file."""
    encoding: str | None = None
    if fmt == "csv":
        header, body, encoding = _read_csv_table(path)
    else:
        header, body = _read_xlsx_table(path)
    mapping, ignored = map_headers(header)
    fields = set(mapping.values())
    if not ({"lon", "lat"} <= fields or "location" in fields):
        shown = ", ".join(str(h) for h in header if h is not None)
        raise InputError(
            f"{path.name}: no longitude/latitude columns found (headers: {_shown(shown, 300)}); "
            "name them 经度/纬度 or lon/lat",
            field="file",
        )
    return mapping, ignored, _table_rows(header, body, mapping, csv_text=fmt == "csv"), encoding


def _geojson_file_rows(path: Path) -> tuple[dict[str, str], tuple[str, ...],
                                           list[tuple[int, dict[str, Any]]], str | None]:
    """Header mapping, ignored properties, rows and stated ``coordinates_crs`` of a GeoJSON file."""
    doc = _load_json(path)
    features = doc.get("features") if isinstance(doc, dict) else None
    if not isinstance(features, list):
        raise InputError(f"{path.name} is not a GeoJSON FeatureCollection", field="file")
    mapping, ignored, rows = _feature_rows(features)
    stated = doc.get("coordinates_crs")
    return mapping, ignored, rows, (str(stated) if stated else None)


def _vector_file_rows(path: Path) -> tuple[dict[str, str], tuple[str, ...], list[tuple[int, dict[str, Any]]]]:
    """Rows of a GPKG/SHP station file (read with GDAL)."""
    gdf = read_vector_file(path, what="a station file", field="file")
    features = [
        {"properties": {k: v for k, v in rec.items() if k != "geometry"},
         "geometry": ({"type": "Point", "coordinates": [rec["geometry"].x, rec["geometry"].y]}
                      if rec["geometry"] is not None and rec["geometry"].geom_type == "Point"
                      else ({"type": rec["geometry"].geom_type} if rec["geometry"] is not None else {}))}
        for rec in gdf.to_dict("records")
    ]
    return _feature_rows(features)


def read_station_file(
    path: str | Path,
    *,
    crs: str | None = None,
    source: str | None = None,
    fix_swapped: bool = False,
) -> ImportReport:
    """Read and validate a station file.

    Parameters
    ----------
    path
        CSV (UTF-8, UTF-8 with BOM or GBK/GB18030, detected; LF, CR LF or CR line ends), XLSX
        (first sheet), GeoJSON (Point features) or GPKG/SHP. Headers in Chinese or English
        (``data/column_aliases.toml``).
    crs
        CRS of the coordinates: ``wgs84``, ``gcj02`` (Amap/Tencent) or ``bd09`` (Baidu). ``None``:
        as the file states it (a ``coordinates_crs`` column, ``gcj``/``bd`` in the coordinate
        headers), else WGS-84.
    source
        Name of where the list came from (default the file stem), kept as ``report.source``; the
        store uses the ``source`` given to the import for rows without their own ``source`` column.
        ``(source, external_id)`` identifies a station on re-import.
    fix_swapped
        Swap lon/lat where they look swapped instead of reporting the row.

    Returns
    -------
    ImportReport
        Valid rows as a canonical stations frame in EPSG:4326, plus every row error (malformed
        features, control characters, over-long cells included).

    Raises
    ------
    InputError
        If the file is missing, unreadable, of an unknown type or has no coordinate columns.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"station file {str(path)!r} does not exist", field="file")
    fmt = _SUFFIX_FORMAT.get(path.suffix.lower())
    if fmt is None:
        raise InputError(
            f"unsupported station file type {path.suffix!r}; use .csv, .xlsx, .geojson or .gpkg", field="file"
        )
    explicit_crs = gcrs.resolve_crs(crs) if crs is not None else None
    source = source or path.stem
    encoding: str | None = None
    if fmt in ("csv", "xlsx"):
        mapping, ignored, rows, encoding = _table_file_rows(path, fmt)
    elif fmt == "geojson":
        mapping, ignored, rows, doc_crs = _geojson_file_rows(path)
        if doc_crs and explicit_crs is None:
            explicit_crs = gcrs.resolve_crs(doc_crs, field="coordinates_crs")
    else:
        mapping, ignored, rows = _vector_file_rows(path)
    if not rows:  # a header without rows, or a collection without features: nothing to import
        raise InputError(f"{path.name} has no station rows", field="file")
    report = _report_with_feature_errors(rows, mapping, ignored, explicit_crs=explicit_crs, source=source,
                                         fix_swapped=fix_swapped, encoding=encoding)
    logger.info("%s: %d rows, %d valid, %d errors (crs %s, encoding %s)", path.name, report.rows_total,
                report.rows_valid, len(report.errors), report.crs, encoding)
    return report


def _report_with_feature_errors(
    rows: list[tuple[int, dict[str, Any]]], mapping: dict[str, str], ignored: tuple[str, ...], *,
    explicit_crs: str | None, source: str, fix_swapped: bool, encoding: str | None,
) -> ImportReport:
    """Decide the CRS, validate the rows, and report malformed features and geometries by row.

    Consumes ``rows`` (the reader's own list, emptied as the rows are validated, so that a large
    file's raw cells and its clean records are not all held at once)."""
    feature_errors = [RowError(n, "feature", raw.pop("_feature_error")) for n, raw in rows
                      if "_feature_error" in raw]
    bad_features = {e.row for e in feature_errors}
    stated = {_text(raw.get("coordinates_crs")) for n, raw in rows if n not in bad_features} - {None}
    if explicit_crs is None and len(stated) == 1:
        explicit_crs = gcrs.resolve_crs(str(stated.pop()), field="coordinates_crs")
    use_crs = explicit_crs or _crs_from_headers(mapping) or "wgs84"
    geometry_errors = [RowError(n, "geometry", raw.pop("_geometry_error")) for n, raw in rows
                       if "_geometry_error" in raw and n not in bad_features]
    kept_rows = (item for item in _drain(rows) if item[0] not in bad_features)
    report = build_report(kept_rows, columns=mapping, crs=use_crs, source=source, fix_swapped=fix_swapped,
                          encoding=encoding, ignored_columns=ignored)
    if not geometry_errors and not feature_errors:
        return report
    bad_rows = {e.row for e in geometry_errors}
    kept = tuple(e for e in report.errors if not (e.row in bad_rows and e.field in ("lon", "lat")))
    errors = tuple(sorted((*kept, *geometry_errors, *feature_errors), key=lambda e: (e.row, e.field)))
    return ImportReport(frame=report.frame, errors=errors, columns=report.columns,
                        rows_total=report.rows_total + len(feature_errors), crs=report.crs,
                        source=report.source, encoding=report.encoding,
                        ignored_columns=report.ignored_columns)


def report_from_frame(
    frame: pd.DataFrame, *, crs: str = "wgs84", source: str | None = None, fix_swapped: bool = False
) -> ImportReport:
    """Validate an in-memory (Geo)DataFrame of stations like a file (row = position + 2).

    Point geometries give ``lon``/``lat``; otherwise ``lon``/``lat`` (or alias) columns are used.
    """
    crs = gcrs.resolve_crs(crs)
    cols = [c for c in frame.columns if c != "geometry" and not (isinstance(frame, gpd.GeoDataFrame)
                                                                    and c == frame.geometry.name)]
    mapping, ignored = map_headers(cols)
    has_geom = isinstance(frame, gpd.GeoDataFrame) and frame.geometry.name in frame.columns
    if has_geom and frame.crs is not None and not frame.crs.equals("EPSG:4326"):
        frame = frame.to_crs("EPSG:4326")
    rows = []
    for pos, (_, rec) in enumerate(frame.iterrows()):
        raw = {fld: rec[h] for h, fld in mapping.items()}
        if has_geom:
            geom = rec[frame.geometry.name]
            if geom is not None and not geom.is_empty and geom.geom_type == "Point":
                raw["lon"], raw["lat"] = geom.x, geom.y
        rows.append((pos + 2, raw))
    return build_report(rows, columns=mapping, crs=crs, source=source, fix_swapped=fix_swapped,
                        ignored_columns=ignored)


# --------------------------------------------------------------------------------------------------
# export

_EXPORT_ORDER = (
    "station_id", "external_id", "source", "name", "kind", "status", "address", "county_name",
    "county_code", "township_name", "township_code", "community_name", "community_code", "amenities",
    "opening_hours", "host_org", "phone", "seats", "floor_area_m2", "source_crs",
    "stars",  # station operations: latest star rating (None if never rated; ignored on import)
)


def _export_value(value: Any) -> Any:
    if _is_blank(value) if not isinstance(value, list | tuple | np.ndarray) else False:
        return None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


def export_stations(
    frame: gpd.GeoDataFrame, path: str | Path, *, format: str | None = None, crs: str = "wgs84"
) -> Path:
    """Write a stations frame to GeoJSON, CSV (UTF-8 with BOM), XLSX or GPKG.

    Coordinates are converted from WGS-84 (EPSG:4326, the frame's CRS) to ``crs``; every row says
    which in ``coordinates_crs`` (GeoJSON also at the top level), and ``source_crs`` is kept, so
    :func:`read_station_file` of the result gives back the same stations. Amenities are written as
    codes separated by ``;`` (GeoJSON: a list).

    Returns
    -------
    pathlib.Path
        The written file.
    """
    path = Path(path)
    fmt = (format or _SUFFIX_FORMAT.get(path.suffix.lower(), "")).lower()
    if fmt not in EXPORT_FORMATS:
        raise InputError(f"unknown export format {fmt!r}; use one of {', '.join(EXPORT_FORMATS)}",
                         field="format")
    crs = gcrs.resolve_crs(crs)
    if frame.crs is not None and not frame.crs.equals("EPSG:4326"):
        frame = frame.to_crs("EPSG:4326")
    lon = np.asarray(frame.geometry.x, dtype=float) if len(frame) else np.zeros(0)
    lat = np.asarray(frame.geometry.y, dtype=float) if len(frame) else np.zeros(0)
    if crs != "wgs84" and len(frame):
        lon, lat = gcrs.convert(lon, lat, src="wgs84", dst=crs)
    records: list[dict[str, Any]] = []
    for i, (_, rec) in enumerate(frame.iterrows()):
        out = {c: _export_value(rec[c]) if c in rec.index else None for c in _EXPORT_ORDER}
        amen = rec["amenities"] if "amenities" in rec.index else None
        out["amenities"] = [str(a) for a in amen] if isinstance(amen, list | tuple | np.ndarray) else []
        if out["seats"] is not None:
            out["seats"] = int(out["seats"])
        out["coordinates_crs"] = crs
        out["lon"], out["lat"] = round(float(lon[i]), 8), round(float(lat[i]), 8)
        records.append(out)
    _write_export(records, path, fmt, crs)
    logger.info("wrote %d stations to %s (%s, %s)", len(records), path, fmt, crs)
    return path


def _write_export(records: list[dict[str, Any]], path: Path, fmt: str, crs: str) -> None:
    """Write export records to a temporary file renamed onto ``path`` (:func:`geo.text.atomic_path`);
    CSV and XLSX cells never become formulas (:func:`geo.text.write_csv`, :func:`geo.text.write_xlsx`)."""
    if fmt == "geojson":
        doc = {
            "type": "FeatureCollection",
            "coordinates_crs": crs,
            "features": [
                {"type": "Feature",
                 "geometry": {"type": "Point", "coordinates": [r["lon"], r["lat"]]},
                 "properties": {k: v for k, v in r.items() if k not in ("lon", "lat")}}
                for r in records
            ],
        }
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(doc, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
        return
    flat = [{**r, "amenities": ";".join(r["amenities"])} for r in records]
    columns = [*_EXPORT_ORDER, "coordinates_crs", "lon", "lat"]
    table = pd.DataFrame(flat, columns=columns)
    if fmt == "csv":
        write_csv(table, path)
    elif fmt == "xlsx":
        write_xlsx({"stations": table}, path)
    else:
        out_gdf = gpd.GeoDataFrame(
            table.drop(columns=["lon", "lat"]).astype({"station_id": str}),
            geometry=gpd.points_from_xy(table["lon"], table["lat"]), crs="EPSG:4326",
        )
        with atomic_path(path) as tmp:
            tmp.unlink()  # (GDAL makes the file itself)
            out_gdf.to_file(tmp, driver="GPKG", layer="stations")
