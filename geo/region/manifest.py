"""The networks folder of a region: ``DIR/manifest.json`` and ``DIR/<code>/<mode>.npz``.

The manifest is the one written by ``yizhan network build-areas`` (issue #16)::

    {"areas": [{"code": "320102", "name": "玄武区", "mode": "walk", "nodes": 1234, "arcs": 5678,
                "halo_m": 4500.0, "bbox": [lon0, lat0, lon1, lat1], "file": "320102/walk.npz",
                "source": "jiangsu.osm.pbf", "source_sha256": "…"}, …]}

one entry per area and mode, codes as strings, ``bbox`` in WGS-84 (EPSG:4326) degrees, the network
of an area holding every arc whose two end nodes lie inside the area's polygon buffered by
``halo_m`` metres. Everything here is checked before any task starts (:func:`read_manifest`,
:func:`check_halo`): a folder without a manifest, a manifest whose files are missing or whose halo
is smaller than the horizon needs each give one :class:`geo.errors.InputError` naming the area.

Area polygons are read from each network file's metadata (``options["area_polygon_wkt"]``, WKT in
WGS-84, as :func:`geo.region.synthetic.write_region_networks` writes it; ``area_polygon`` as WKT or
a GeoJSON geometry is accepted too) unless an areas frame is given.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from geo.catalog import mode_speeds_kph, resolve_mode
from geo.errors import InputError, NotFoundError

MANIFEST_NAME = "manifest.json"
MANIFEST_FIELDS: tuple[str, ...] = (
    "code",
    "name",
    "mode",
    "nodes",
    "arcs",
    "halo_m",
    "bbox",
    "file",
    "source",
    "source_sha256",
)
POLYGON_KEYS: tuple[str, ...] = ("area_polygon_wkt", "area_polygon")

__all__ = [
    "MANIFEST_FIELDS",
    "MANIFEST_NAME",
    "AreaEntry",
    "Manifest",
    "check_halo",
    "network_meta",
    "read_manifest",
    "required_halo_meters",
    "write_manifest",
]


@dataclass(frozen=True)
class AreaEntry:
    """One area network of the manifest (``path`` is the absolute path of ``file``)."""

    code: str
    name: str
    mode: str
    nodes: int
    arcs: int
    halo_m: float
    bbox: tuple[float, float, float, float]
    file: str
    source: str
    source_sha256: str
    path: Path

    def as_dict(self) -> dict[str, Any]:
        """The manifest entry (the fields of :data:`MANIFEST_FIELDS`)."""
        return {
            "code": self.code,
            "name": self.name,
            "mode": self.mode,
            "nodes": self.nodes,
            "arcs": self.arcs,
            "halo_m": self.halo_m,
            "bbox": list(self.bbox),
            "file": self.file,
            "source": self.source,
            "source_sha256": self.source_sha256,
        }


@dataclass(frozen=True)
class Manifest:
    """A networks folder: its directory and every area entry, in manifest order."""

    directory: Path
    areas: tuple[AreaEntry, ...]

    def for_mode(self, mode: str) -> tuple[AreaEntry, ...]:
        """The entries of one mode, in manifest order."""
        return tuple(a for a in self.areas if a.mode == mode)


def _entry(raw: Any, i: int, directory: Path) -> AreaEntry:
    where = f"{MANIFEST_NAME} area {i}"
    if not isinstance(raw, dict):
        raise InputError(f"{where} is not an object", field="networks")
    missing = [k for k in MANIFEST_FIELDS if k not in raw]
    if missing:
        raise InputError(f"{where} lacks field(s) {', '.join(missing)}", field="networks")
    code = raw["code"]
    if not isinstance(code, str) or not code:
        raise InputError(f"{where}: code must be a non-empty string, got {code!r}", field="networks")
    try:
        bbox = tuple(float(v) for v in raw["bbox"])
        halo = float(raw["halo_m"])
        nodes, arcs = int(raw["nodes"]), int(raw["arcs"])
    except (TypeError, ValueError):
        raise InputError(
            f"{where} ({code}): bbox, halo_m, nodes, arcs must be numbers", field="networks"
        ) from None
    if len(bbox) != 4 or not all(math.isfinite(v) for v in bbox) or bbox[0] > bbox[2] or bbox[1] > bbox[3]:
        raise InputError(
            f"{where} ({code}): bbox must be [lon0, lat0, lon1, lat1], got {raw['bbox']!r}", field="networks"
        )
    if not (math.isfinite(halo) and halo >= 0):
        raise InputError(f"{where} ({code}): halo_m must be ≥ 0, got {raw['halo_m']!r}", field="networks")
    mode = resolve_mode(str(raw["mode"]), field="networks")
    path = (directory / str(raw["file"])).resolve()
    return AreaEntry(
        code=code,
        name=str(raw["name"]),
        mode=mode,
        nodes=nodes,
        arcs=arcs,
        halo_m=halo,
        bbox=(bbox[0], bbox[1], bbox[2], bbox[3]),
        file=str(raw["file"]),
        source=str(raw["source"]),
        source_sha256=str(raw["source_sha256"]),
        path=path,
    )


def read_manifest(directory: str | Path) -> Manifest:
    """Read and check ``DIR/manifest.json``: every field present, codes unique per mode, files present.

    Raises
    ------
    NotFoundError
        The folder or its manifest does not exist.
    InputError
        A malformed manifest, a duplicate (code, mode), or a listed file that is missing.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise NotFoundError(f"networks folder {str(directory)!r} does not exist", field="networks")
    path = directory / MANIFEST_NAME
    if not path.is_file():
        raise NotFoundError(
            f"{directory} has no {MANIFEST_NAME} (build it with 'yizhan network build-areas')",
            field="networks",
        )
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"{path} is not valid JSON: {exc}", field="networks") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("areas"), list) or not doc["areas"]:
        raise InputError(f"{path} has no 'areas' list", field="networks")
    entries = [_entry(raw, i, directory) for i, raw in enumerate(doc["areas"])]
    seen: set[tuple[str, str]] = set()
    for e in entries:
        if (e.code, e.mode) in seen:
            raise InputError(f"{MANIFEST_NAME} lists area {e.code} ({e.mode}) twice", field="networks")
        seen.add((e.code, e.mode))
    missing = [e for e in entries if not e.path.is_file()]
    if missing:
        first = missing[0]
        raise InputError(
            f"{len(missing)} network file(s) listed in {MANIFEST_NAME} are missing "
            f"(first: {first.file} of area {first.code})",
            field="networks",
        )
    return Manifest(directory=directory, areas=tuple(entries))


def write_manifest(directory: str | Path, entries: list[dict[str, Any]]) -> Path:
    """Write ``DIR/manifest.json`` (atomic replace) from entry dicts with :data:`MANIFEST_FIELDS`."""
    directory = Path(directory)
    path = directory / MANIFEST_NAME
    tmp = directory / f".{MANIFEST_NAME}.tmp"
    tmp.write_text(json.dumps({"areas": entries}, ensure_ascii=False, indent=1), encoding="utf-8")
    tmp.replace(path)
    return path


def required_halo_meters(speed_kph: float, horizon_minutes: float, snap_meters: float) -> float:
    """The halo that makes per-area coverage exact up to ``horizon_minutes``: the distance travelled
    in the horizon plus the snap limit (a station up to ``snap_meters`` from its street node)."""
    return speed_kph * 1000.0 / 60.0 * horizon_minutes + snap_meters


def network_meta(path: Path) -> dict[str, Any]:
    """The metadata of a network ``.npz`` (mode, speed_kph, source, options) without its arrays."""
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
    except (OSError, KeyError, ValueError) as exc:
        raise InputError(f"{path} is not a yizhan network file: {exc}", field="networks") from None
    if not isinstance(meta, dict):
        raise InputError(f"{path} has no metadata", field="networks")
    return meta


def speed_of(entry: AreaEntry, meta: dict[str, Any]) -> float:
    """The speed stored in an area's network file (the mode's default when absent), km/h."""
    speed = meta.get("speed_kph")
    return float(speed) if speed is not None else mode_speeds_kph()[entry.mode]


def polygon_of(meta: dict[str, Any]) -> BaseGeometry | None:
    """The area polygon recorded in a network file's options (WGS-84), ``None`` when absent."""
    options = meta.get("options") or {}
    for key in POLYGON_KEYS:
        value = options.get(key)
        if value is None:
            continue
        geom = shapely.from_geojson(json.dumps(value)) if isinstance(value, dict) else shapely.from_wkt(value)
        return geom
    return None


def check_halo(
    entries: tuple[AreaEntry, ...], speeds_kph: list[float], *, horizon_minutes: float, snap_meters: float
) -> None:
    """Raise one :class:`InputError` naming the first area whose halo is smaller than
    :func:`required_halo_meters` for its network's speed."""
    for e, speed in zip(entries, speeds_kph, strict=True):
        need = required_halo_meters(speed, horizon_minutes, snap_meters)
        if e.halo_m + 1e-6 < need:
            allowed = max(0.0, (e.halo_m - snap_meters) / (speed * 1000.0 / 60.0))
            raise InputError(
                f"area {e.code} ({e.mode}) has a halo of {e.halo_m:.0f} m, smaller than the {need:.0f} m "
                f"that --horizon-minutes {horizon_minutes:g} needs ({speed:g} km/h × {horizon_minutes:g} min "
                f"+ {snap_meters:g} m snap); pass --horizon-minutes {math.floor(allowed * 100) / 100:g} or "
                "less, or rebuild the networks with a larger --halo-minutes",
                field="horizon_minutes",
            )


