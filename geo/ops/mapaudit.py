"""上图 audit: is every station findable on Amap / Baidu? Compare the registry with the user's own POI
search export (name, address, lon/lat in GCJ-02 or BD-09).

Matching uses position and name together (two stations may share a name), one POI per station:

1. **listed / misplaced**: station–POI pairs within ``search_meters`` whose names are alike
   (similarity ≥ ``name_similarity`` after removing generic words such as 爱心驿站, 劳动者港湾), taken
   nearest first; ≤ ``misplaced_meters`` (50 m) is *listed*, farther is *misplaced* (distance given).
2. **renamed**: a station left over with a station-like POI (its name has a word of
   ``station_words``) within ``misplaced_meters`` whose name is not alike, nearest first.
3. **missing**: stations left over.
4. **unregistered**: station-like POIs left over (on the map, not in the registry).

The rule's numbers and words are ``[audit]`` in ``data/standards.toml``. Distances are geodesic
metres between WGS-84 points (POIs converted from their CRS; the export keeps the source CRS).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import logging
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any

import numpy as np
from scipy.spatial import cKDTree

from geo import crs as gcrs
from geo.errors import ImportRejectedError, InputError, NotFoundError
from geo.ops.standards import standards_config
from geo.ops.tables import read_table
from geo.stations import RowError

logger = logging.getLogger(__name__)

CATEGORIES = ("missing", "misplaced", "renamed", "unregistered")
POI_HEADERS: dict[str, tuple[str, ...]] = {
    "name": ("name", "名称", "poi名称", "地点名称", "title"),
    "address": ("address", "地址", "详细地址", "addr"),
    "lon": ("lon", "lng", "经度", "longitude", "x"),
    "lat": ("lat", "纬度", "latitude", "y"),
}
PROVIDERS = {"gcj02": "amap", "bd09": "baidu"}
SUBMIT_COLUMNS = ("station_id", "name", "address", "lon", "lat", "crs", "reason")


def audit_rule() -> dict[str, Any]:
    """``[audit]`` of ``data/standards.toml`` with defaults."""
    rule = dict(standards_config().get("audit", {}))
    rule.setdefault("misplaced_meters", 50.0)
    rule.setdefault("search_meters", 1000.0)
    rule.setdefault("name_similarity", 0.6)
    rule.setdefault("generic_words", [])
    rule.setdefault("station_words", ["驿站"])
    rule.setdefault("not_station_words", [])
    return rule


@dataclass(frozen=True)
class Poi:
    row: int
    name: str
    address: str | None
    lon: float  # WGS-84
    lat: float
    src_lon: float  # as in the file
    src_lat: float


@dataclass(frozen=True)
class Finding:
    """One station or POI of the audit."""

    category: str
    station_id: int | None
    station_name: str | None
    poi_name: str | None
    poi_row: int | None
    distance_m: float | None
    similarity: float | None


@dataclass(frozen=True)
class MapAudit:
    """The audit's findings by category, plus the stations found listed."""

    crs: str
    provider: str
    listed: tuple[Finding, ...]
    findings: tuple[Finding, ...]

    def category(self, name: str) -> list[Finding]:
        return [f for f in self.findings if f.category == name]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"crs": self.crs, "provider": self.provider, "listed": len(self.listed)}
        for cat in CATEGORIES:
            out[cat] = [asdict(f) for f in self.category(cat)]
        return out


# --------------------------------------------------------------------------------------------------
# names


def _core(name: str, generic: Sequence[str]) -> str:
    s = re.sub(r"[\s\W_]+", "", str(name)).lower()
    core = s
    for word in sorted(generic, key=len, reverse=True):
        core = core.replace(word, "")
    return core or s


def name_similarity(a: str, b: str, *, generic: Sequence[str] = ()) -> float:
    """0..1: 1 for equal names (after removing punctuation and generic words), 0.9 when one holds
    the other, else the ``difflib`` ratio."""
    ca, cb = _core(a, generic), _core(b, generic)
    if not ca or not cb:
        return 0.0
    if ca == cb:
        return 1.0
    if min(len(ca), len(cb)) >= 2 and (ca in cb or cb in ca):
        return 0.9
    return SequenceMatcher(None, ca, cb).ratio()


def looks_like_station(name: str, words: Sequence[str], *, not_words: Sequence[str] = ()) -> bool:
    """Whether a POI name says "worker station" (and not, e.g., 菜鸟驿站, a parcel point)."""
    return any(w in name for w in words) and not any(w in name for w in not_words)


# --------------------------------------------------------------------------------------------------
# reading the POI export


def _norm(text: Any) -> str:
    return "".join(str(text).split()).lower().replace("\ufeff", "")


def read_pois(path: str | Path, *, crs: str) -> list[Poi]:
    """Read a POI export (CSV/XLSX; name, address, lon, lat or 名称, 地址, 经度, 纬度) in ``crs``.

    Raises
    ------
    ImportRejectedError
        A row without a name or with coordinates that are not numbers in mainland China.
    """
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"POI file {path} not found", field="pois")
    src = gcrs.resolve_crs(crs)
    header, body = read_table(path)
    table = {_norm(h): fld for fld, names in POI_HEADERS.items() for h in names}
    index = {fld: i for i, h in reversed(list(enumerate(header))) if (fld := table.get(_norm(h or "")))}
    for needed in ("name", "lon", "lat"):
        if needed not in index:
            raise InputError(f"the POI file has no {needed} column (名称, 经度, 纬度)", field=needed)
    pois, errors = [], []
    for n, values in enumerate(body, start=2):
        cell = {f: (values[i] if i < len(values) else None) for f, i in index.items()}
        if all(v in (None, "") for v in cell.values()):
            continue
        name = str(cell["name"] or "").strip()
        try:
            x, y = float(cell["lon"]), float(cell["lat"])  # type: ignore[arg-type]
        except (TypeError, ValueError):
            errors.append(RowError(n, "lon", "lon/lat are not numbers"))
            continue
        if not name:
            errors.append(RowError(n, "name", "missing name"))
        elif not (math.isfinite(x) and math.isfinite(y)) or not bool(gcrs.in_mainland_china(x, y)):
            errors.append(RowError(n, "lon", f"({x}, {y}) is not in mainland China"))
        else:
            lon, lat = gcrs.convert(x, y, src=src, dst="wgs84")
            address = str(cell.get("address") or "").strip() or None
            pois.append(Poi(n, name, address, float(lon), float(lat), x, y))
    if errors:
        raise ImportRejectedError(f"POI file rejected: {len(errors)} bad row(s)", report=tuple(errors))
    return pois


# --------------------------------------------------------------------------------------------------
# matching


def _meters(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Haversine distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (
        math.sin((p2 - p1) / 2) ** 2
        + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * 6_371_008.8 * math.asin(math.sqrt(a))


def _pairs(
    stations: Sequence[Mapping[str, Any]], pois: Sequence[Poi], radius: float
) -> list[tuple[int, int, float]]:
    """(station index, POI index, metres) for every pair within ``radius`` (KD-tree on local metres)."""
    if not stations or not pois:
        return []
    lat0 = float(np.mean([s["lat"] for s in stations]))
    k = math.cos(math.radians(lat0))

    def xy(lon: float, lat: float) -> tuple[float, float]:
        return lon * 111_320.0 * k, lat * 110_574.0

    tree = cKDTree([xy(p.lon, p.lat) for p in pois])
    out = []
    for i, s in enumerate(stations):
        for j in tree.query_ball_point(xy(s["lon"], s["lat"]), r=radius * 1.05):
            d = _meters(s["lon"], s["lat"], pois[j].lon, pois[j].lat)
            if d <= radius:
                out.append((i, int(j), d))
    return out


def audit_maps(stations: Sequence[Mapping[str, Any]], pois: Sequence[Poi], *, crs: str) -> MapAudit:
    """Compare registry stations (``station_id``, ``name``, WGS-84 ``lon``/``lat``) with POIs.

    Returns
    -------
    MapAudit
        ``listed`` stations and the ``missing`` / ``misplaced`` / ``renamed`` / ``unregistered``
        findings (see the module docstring for the rule).
    """
    src = gcrs.resolve_crs(crs)
    if src == "wgs84":
        raise InputError("the POI export comes from Amap (gcj02) or Baidu (bd09)", field="crs")
    rule = audit_rule()
    generic, words, not_words = rule["generic_words"], rule["station_words"], rule["not_station_words"]
    near = float(rule["misplaced_meters"])
    pairs = _pairs(stations, pois, float(rule["search_meters"]))
    sims = {(i, j): name_similarity(stations[i]["name"], pois[j].name, generic=generic) for i, j, _ in pairs}
    used_s: dict[int, Finding] = {}
    used_p: set[int] = set()

    def take(i: int, j: int, d: float, category: str) -> None:
        s = stations[i]
        used_s[i] = Finding(
            category,
            int(s["station_id"]),
            str(s["name"]),
            pois[j].name,
            pois[j].row,
            round(d, 1),
            round(sims[(i, j)], 3),
        )
        used_p.add(j)

    alike = sorted((d, -sims[(i, j)], i, j) for i, j, d in pairs if sims[(i, j)] >= rule["name_similarity"])
    for d, _, i, j in alike:
        if i not in used_s and j not in used_p:
            take(i, j, d, "listed" if d <= near else "misplaced")
    renamed = sorted(
        (d, i, j)
        for i, j, d in pairs
        if d <= near
        and sims[(i, j)] < rule["name_similarity"]
        and looks_like_station(pois[j].name, words, not_words=not_words)
    )
    for d, i, j in renamed:
        if i not in used_s and j not in used_p:
            take(i, j, d, "renamed")
    findings = [
        used_s.get(i) or Finding("missing", int(s["station_id"]), str(s["name"]), None, None, None, None)
        for i, s in enumerate(stations)
    ]
    extra = [
        Finding("unregistered", None, None, p.name, p.row, None, None)
        for j, p in enumerate(pois)
        if j not in used_p and looks_like_station(p.name, words, not_words=not_words)
    ]
    listed = tuple(f for f in findings if f.category == "listed")
    rest = tuple(f for f in findings if f.category != "listed") + tuple(extra)
    return MapAudit(crs=src, provider=PROVIDERS[src], listed=listed, findings=rest)


# --------------------------------------------------------------------------------------------------
# output


def write_audit(
    audit: MapAudit, stations: Sequence[Mapping[str, Any]], out_dir: str | Path
) -> dict[str, Path]:
    """Write ``audit.json`` and ``submit.csv`` (missing and misplaced stations with their registry
    position in the audit's CRS: the columns a bulk POI correction needs)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    by_id = {int(s["station_id"]): s for s in stations}
    report = out / "audit.json"
    tmp = report.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(audit.to_dict(), ensure_ascii=False, indent=1), encoding="utf-8")
    tmp.replace(report)
    submit = out / "submit.csv"
    tmp = submit.with_suffix(".csv.tmp")
    with tmp.open("w", newline="", encoding="utf-8-sig") as fh:
        writer = csv.writer(fh)
        writer.writerow(SUBMIT_COLUMNS)
        for f in audit.findings:
            if f.category not in ("missing", "misplaced") or f.station_id is None:
                continue
            s = by_id[f.station_id]
            lon, lat = gcrs.convert(float(s["lon"]), float(s["lat"]), src="wgs84", dst=audit.crs)
            reason = "missing" if f.category == "missing" else f"misplaced by {f.distance_m:.0f} m"
            writer.writerow(
                [
                    f.station_id,
                    s["name"],
                    s.get("address") or "",
                    f"{lon:.7f}",
                    f"{lat:.7f}",
                    audit.crs,
                    reason,
                ]
            )
    tmp.replace(submit)
    return {"audit": report, "submit": submit}


def record_presence(session: Any, audit: MapAudit, *, on: dt.date | None = None) -> int:
    """Store each audited station's 上图 status (``map_presence``) for the standards and stars; commits."""
    from sqlalchemy import text

    day = on or dt.date.today()
    rows = [
        (f.station_id, f.category, f.distance_m, f.poi_name)
        for f in (*audit.listed, *audit.findings)
        if f.station_id is not None
    ]
    sql = text("""INSERT INTO map_presence (station_id, provider, status, distance_m, poi_name, checked_on)
                  VALUES (:s, :p, :st, :d, :n, :day)""")
    try:
        for sid, cat, dist, poi in rows:
            session.execute(sql, {"s": sid, "p": audit.provider, "st": cat, "d": dist, "n": poi, "day": day})
        session.commit()
    except Exception:
        session.rollback()
        raise
    return len(rows)
