"""The organisation tree (小三级): levels, and organisation files read and checked row by row.

Levels from the top: national 全国, province 省, prefecture 市/地区/州/盟, county 县/区/旗, township
乡镇/街道, community 社区/村, and host (bank, fuel station, 党群 centre hosting stations). A child is
always at a lower level than its parent, so the tree has no cycles. Area polygons are WGS-84
(EPSG:4326) MultiPolygons.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from geo.areas import as_multipolygon
from geo.errors import InputError
from geo.stations import RowError

LEVELS: tuple[str, ...] = ("national", "province", "prefecture", "county", "township", "community", "host")
RANK: dict[str, int] = {level: i for i, level in enumerate(LEVELS)}
#: Chinese (and a few English) spellings of each level
LEVEL_ALIASES: dict[str, str] = {
    **{level: level for level in LEVELS},
    "全国": "national",
    "全国总工会": "national",
    "国家": "national",
    "省": "province",
    "省级": "province",
    "自治区": "province",
    "直辖市": "province",
    "市": "prefecture",
    "地市": "prefecture",
    "地级": "prefecture",
    "地区": "prefecture",
    "州": "prefecture",
    "盟": "prefecture",
    "prefecture-level": "prefecture",
    "city": "prefecture",
    "县": "county",
    "区": "county",
    "县级": "county",
    "县区": "county",
    "旗": "county",
    "县级市": "county",
    "district": "county",
    "乡镇": "township",
    "乡": "township",
    "镇": "township",
    "街道": "township",
    "乡镇街道": "township",
    "street": "township",
    "社区": "community",
    "村": "community",
    "村社区": "community",
    "village": "community",
    "主办单位": "host",
    "阵地": "host",
    "承办单位": "host",
    "单位": "host",
    "站点主办": "host",
}
HEADERS: dict[str, tuple[str, ...]] = {
    "code": ("组织代码", "代码", "编码", "组织编码", "code", "org_code", "adcode"),
    "name": ("名称", "组织名称", "单位名称", "工会名称", "name", "org_name"),
    "level": ("级别", "层级", "类型", "level"),
    "parent_code": ("上级代码", "上级组织代码", "上级编码", "parent", "parent_code"),
    "area_code": ("区划代码", "行政区划代码", "area_code"),
}
CODE_PATTERN = re.compile(r"^[0-9A-Za-z][0-9A-Za-z_.\-]{0,63}$")


@dataclass(frozen=True)
class OrgRow:
    """One organisation read from a file (``area``: its polygon from the file's geometry, if any)."""

    row: int
    code: str
    name: str
    level: str
    parent_code: str | None = None
    area_code: str | None = None
    area: BaseGeometry | None = field(default=None, compare=False)


@dataclass(frozen=True)
class OrgFile:
    """What :func:`read_org_file` found: the valid rows, every row error and the header mapping."""

    rows: tuple[OrgRow, ...]
    errors: tuple[RowError, ...]
    columns: dict[str, str]
    rows_total: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows_total": self.rows_total,
            "valid": len(self.rows),
            "columns": dict(self.columns),
            "errors": [e.to_dict() for e in self.errors],
        }


def resolve_level(value: Any) -> str | None:
    """The level code of ``value`` (``县``, ``街道``, ``county``...), ``None`` when unknown."""
    text = str(value or "").strip().lower()
    return LEVEL_ALIASES.get(text) or LEVEL_ALIASES.get(str(value or "").strip())


def _cell(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # spreadsheets turn codes into numbers
    text = str(value).strip()
    return text or None


def _map_headers(headers: Sequence[Any]) -> dict[str, str]:
    wanted = {alias.lower(): fld for fld, aliases in HEADERS.items() for alias in aliases}
    out: dict[str, str] = {}
    for h in headers:
        key = str(h or "").strip().lower()
        if key in wanted and wanted[key] not in out.values():
            out[str(h).strip()] = wanted[key]
    missing = [f for f in ("code", "name", "level") if f not in out.values()]
    if missing:
        names = "; ".join(f"{f}: {' / '.join(HEADERS[f])}" for f in missing)
        raise InputError(f"the organisation file lacks column(s) {names}", field="file")
    return out


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise InputError("cannot decode the file as UTF-8 or GBK/GB18030", field="file")


def _table(path: Path) -> tuple[list[Any], list[list[Any]], list[BaseGeometry | None]]:
    """Header, rows and per-row geometry of a CSV, XLSX or GeoJSON file."""
    suffix = path.suffix.lower()
    if suffix in (".geojson", ".json"):
        try:
            data = json.loads(_decode(path.read_bytes()))
            feats = data["features"] if isinstance(data, dict) else None
            assert isinstance(feats, list) and all(isinstance(f, dict) for f in feats)
        except (ValueError, KeyError, AssertionError, RecursionError):
            raise InputError(f"{path.name} is not a GeoJSON FeatureCollection", field="file") from None
        header: list[Any] = []
        for f in feats:
            header += [k for k in (f.get("properties") or {}) if k not in header]
        rows = [[(f.get("properties") or {}).get(h) for h in header] for f in feats]
        return header, rows, [_geometry(f.get("geometry")) for f in feats]
    if suffix == ".xlsx":
        from openpyxl import load_workbook

        try:
            wb = load_workbook(path, read_only=True, data_only=True)
            ws = wb.active
            table = [list(r) for r in ws.iter_rows(values_only=True)] if ws is not None else []
            wb.close()
        except Exception as exc:  # openpyxl raises many kinds for a broken file
            raise InputError(f"cannot read {path.name} as XLSX: {exc}", field="file") from exc
    elif suffix in (".csv", ".txt", ".tsv"):
        text = _decode(path.read_bytes()).replace("\r\n", "\n").replace("\r", "\n")
        delimiter = "\t" if suffix == ".tsv" or ("\t" in text.split("\n", 1)[0]) else ","
        table = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    else:
        raise InputError(
            f"unsupported organisation file {path.name!r}: use CSV, XLSX or GeoJSON", field="file"
        )
    if not table:
        raise InputError(f"{path.name} is empty", field="file")
    return table[0], table[1:], [None] * (len(table) - 1)


def _geometry(geom: Any) -> BaseGeometry | None:
    if not geom:
        return None
    try:
        return shape(geom)
    except Exception:  # shapely raises several kinds for malformed GeoJSON geometry
        return _BAD_GEOMETRY


_BAD_GEOMETRY = shape({"type": "Point", "coordinates": [0, 0]})


def read_org_file(path: str | Path, *, known: Mapping[str, str] | None = None) -> OrgFile:
    """Read organisations from CSV (UTF-8/GBK), XLSX or GeoJSON with Chinese or English headers
    (组织代码/名称/级别/上级代码/区划代码) and check every row.

    Parameters
    ----------
    path
        The file. GeoJSON features may carry the organisation's area polygon (WGS-84).
    known
        Organisations already stored, ``code -> level``: parents may be among them.

    Returns
    -------
    OrgFile
        The valid rows and one :class:`~geo.stations.RowError` per problem (row numbers as a
        spreadsheet shows them: the header is row 1).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"organisation file {str(path)!r} does not exist", field="file")
    header, body, geoms = _table(path)
    mapping = _map_headers(header)
    index = {mapping[str(h).strip()]: i for i, h in enumerate(header) if str(h or "").strip() in mapping}
    raw: list[tuple[int, dict[str, str | None], BaseGeometry | None]] = []
    for n, (values, geom) in enumerate(zip(body, geoms, strict=True), start=2):
        cells = {f: _cell(values[i]) if i < len(values) else None for f, i in index.items()}
        if any(cells.values()) or geom is not None:
            raw.append((n, cells, geom))
    rows, errors = check_rows(raw, known=known or {})
    return OrgFile(tuple(rows), tuple(errors), {h: f for h, f in mapping.items()}, len(raw))


def check_rows(
    raw: Sequence[tuple[int, Mapping[str, str | None], BaseGeometry | None]],
    *,
    known: Mapping[str, str],
) -> tuple[list[OrgRow], list[RowError]]:
    """Validate rows: code, name and level present and valid, codes unique, the parent in the file
    or stored and at a higher level, geometry polygonal."""
    errors: list[RowError] = []
    levels = dict(known)
    seen: dict[str, int] = {}
    for n, cells, _ in raw:
        code, level = cells.get("code"), resolve_level(cells.get("level"))
        if code and code not in seen:
            seen[code] = n
            if level:
                levels[code] = level
    rows: list[OrgRow] = []
    for n, cells, geom in raw:
        found = _row_errors(n, cells, geom, seen, levels)
        if found:
            errors.extend(found)
            continue
        rows.append(
            OrgRow(
                n,
                str(cells["code"]),
                str(cells["name"]),
                str(resolve_level(cells["level"])),
                cells.get("parent_code"),
                cells.get("area_code"),
                as_multipolygon(geom),
            )
        )
    return rows, errors


def _row_errors(
    n: int,
    cells: Mapping[str, str | None],
    geom: BaseGeometry | None,
    seen: Mapping[str, int],
    levels: Mapping[str, str],
) -> list[RowError]:
    out: list[RowError] = []
    code, name, parent = cells.get("code"), cells.get("name"), cells.get("parent_code")
    level = resolve_level(cells.get("level"))
    if not code or not CODE_PATTERN.match(code):
        out.append(RowError(n, "code", f"organisation code {code!r} must be 1-64 letters, digits or _ . -"))
    elif seen.get(code) != n:
        out.append(RowError(n, "code", f"code {code} appears again (first in row {seen.get(code)})"))
    if not name:
        out.append(RowError(n, "name", "the name is empty"))
    if level is None:
        out.append(
            RowError(
                n,
                "level",
                f"unknown level {cells.get('level')!r}; use one of {', '.join(LEVELS)} "
                "or 省/市/县/街道/社区/主办单位",
            )
        )
    if parent:
        if parent == code:
            out.append(RowError(n, "parent_code", "an organisation cannot be its own parent"))
        elif parent not in levels:
            out.append(RowError(n, "parent_code", f"parent {parent} is neither in the file nor stored"))
        elif level is not None and (RANK[levels[parent]] >= RANK[level] or levels[parent] == "host"):
            out.append(
                RowError(
                    n,
                    "parent_code",
                    f"parent {parent} is a {levels[parent]}; a {level} must sit below a higher level",
                )
            )
    if geom is _BAD_GEOMETRY or (geom is not None and as_multipolygon(geom) is None):
        out.append(RowError(n, "geometry", "the geometry is not a valid polygon"))
    return out


def topological(rows: Sequence[OrgRow]) -> list[OrgRow]:
    """Rows ordered parents first (levels strictly descend, so sorting by level rank does it)."""
    return sorted(rows, key=lambda r: (RANK[r.level], r.row))
