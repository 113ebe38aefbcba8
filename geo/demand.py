"""Demand: where outdoor workers are, as weighted points (the canonical **demand** frame).

Every function returns a GeoDataFrame in WGS-84 (EPSG:4326) with the columns

``demand_id`` (str, unique), ``group`` (worker group code, ``data/worker_groups.toml``),
``weight`` (float ≥ 0), ``layer`` (str: where the point came from) and a Point geometry;
other input columns are kept.

Sources, matching ``../shared/docs/DOMAIN.md`` ("food and shops, construction sites, logistics depots,
markets, street length for sanitation beats"):

- :func:`demand_from_points`: a points file (CSV with lon/lat headers or any vector file), layer
  ``points_file``; GCJ-02 / BD-09 coordinates are converted to WGS-84.
- :func:`demand_from_pois`: POIs turned into demand by the tag rules in ``data/demand_rules.toml``, layer
  ``pois``; the rule used is kept in ``rule``.
- :func:`demand_from_grid`: polygon grid cells with a weight column → centroids, layer ``grid``.
- :func:`demand_from_network`: points spaced along the streets with weight proportional to street
  length (the sanitation-beat proxy, the default when no demand is given), layer ``street_length``.
- :func:`combine_demand`: several frames in one with unique ids.
"""

from __future__ import annotations

import logging
import math
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.catalog import DATA_DIR, column_aliases, resolve_worker_group
from geo.checks import check_non_negative, check_point_frame, check_positive, check_weights
from geo.crs import convert, resolve_crs
from geo.errors import InputError, NotFoundError
from geo.vector import read_vector_file

logger = logging.getLogger(__name__)

__all__ = [
    "DEMAND_COLUMNS",
    "DemandRule",
    "combine_demand",
    "demand_from_grid",
    "demand_from_network",
    "demand_from_points",
    "demand_from_pois",
    "load_demand_rules",
    "street_length_meters",
    "validate_demand",
]

#: the canonical demand columns (geometry last)
DEMAND_COLUMNS: tuple[str, ...] = ("demand_id", "group", "weight", "layer")
WGS84 = "EPSG:4326"
DEFAULT_RULES_PATH = DATA_DIR / "demand_rules.toml"


# --------------------------------------------------------------------------------------------- rules
@dataclass(frozen=True)
class DemandRule:
    """One POI → demand rule (see ``data/demand_rules.toml``).

    Attributes
    ----------
    name : str
        Rule name kept in the ``rule`` column.
    match : tuple of (column, accepted values)
        The POI matches when any column holds any accepted value; ``"*"`` accepts any non-empty value.
    weights : tuple of (worker group code, weight)
        One demand point per group, each with its weight.
    label_zh : str
        Chinese label for people.
    """

    name: str
    match: tuple[tuple[str, tuple[str, ...]], ...]
    weights: tuple[tuple[str, float], ...]
    label_zh: str = ""

    def mask(self, frame: pd.DataFrame) -> np.ndarray:
        """Return a boolean array: which rows of ``frame`` this rule matches."""
        hit = np.zeros(len(frame), dtype=bool)
        for column, values in self.match:
            if column not in frame.columns:
                continue
            tokens = frame[column].map(_tag_tokens)
            if "*" in values:
                hit |= tokens.map(bool).to_numpy(dtype=bool)
            else:
                accepted = set(values)
                hit |= tokens.map(lambda t, acc=accepted: bool(acc.intersection(t))).to_numpy(dtype=bool)
        return hit


def _tag_tokens(value: Any) -> frozenset[str]:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return frozenset()
    words = {w.strip().lower() for w in str(value).split(";")}
    return frozenset(w for w in words if w and w not in {"no", "nan", "none"})


def _rule_from_spec(spec: Mapping[str, Any], *, where: str) -> DemandRule:
    name = spec.get("name")
    match = spec.get("match")
    weights = spec.get("weights")
    if not isinstance(name, str) or not name:
        raise InputError(f"demand rule without a name in {where}", field="rules")
    if not isinstance(match, Mapping) or not match:
        raise InputError(f"demand rule {name!r} in {where} has no 'match' table", field="rules")
    if not isinstance(weights, Mapping) or not weights:
        raise InputError(f"demand rule {name!r} in {where} has no 'weights' table", field="rules")
    pairs: list[tuple[str, float]] = []
    for group, weight in weights.items():
        code = resolve_worker_group(str(group), field="rules")
        if not isinstance(weight, int | float) or not math.isfinite(weight) or weight < 0:
            msg = f"demand rule {name!r}: weight for {group!r} must be a number ≥ 0, got {weight!r}"
            raise InputError(msg, field="rules")
        pairs.append((code, float(weight)))
    cols: list[tuple[str, tuple[str, ...]]] = []
    for column, values in match.items():
        vals = [values] if isinstance(values, str) else list(values)
        cols.append((str(column), tuple(str(v).strip().lower() for v in vals)))
    label = str(spec.get("label_zh", ""))
    return DemandRule(name=name, match=tuple(cols), weights=tuple(pairs), label_zh=label)


def load_demand_rules(path: str | Path | None = None) -> tuple[DemandRule, ...]:
    """Read demand rules from a TOML file (default ``data/demand_rules.toml``).

    Parameters
    ----------
    path : str or Path, optional
        A TOML file with ``[[rule]]`` tables (``name``, ``match``, ``weights``, ``label_zh``).

    Returns
    -------
    tuple of DemandRule
        In file order (the first matching rule wins).

    Raises
    ------
    NotFoundError
        If the file does not exist.
    InputError
        If a rule is malformed or names an unknown worker group.
    """
    p = Path(path) if path is not None else DEFAULT_RULES_PATH
    if not p.is_file():
        raise NotFoundError(f"demand rules file not found: {p}", field="rules")
    try:
        with p.open("rb") as fh:
            doc = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"demand rules file {p} is not valid TOML: {exc}", field="rules") from None
    specs = doc.get("rule")
    if not isinstance(specs, list) or not specs:
        raise InputError(f"demand rules file {p} has no [[rule]] tables", field="rules")
    rules = tuple(_rule_from_spec(s, where=str(p)) for s in specs)
    names = [r.name for r in rules]
    if len(set(names)) != len(names):
        raise InputError(f"demand rules file {p} repeats a rule name", field="rules")
    return rules


def _coerce_rules(rules: str | Path | Sequence[DemandRule] | None) -> tuple[DemandRule, ...]:
    if rules is None or isinstance(rules, str | Path):
        return load_demand_rules(rules)
    out = tuple(rules)
    if not out or not all(isinstance(r, DemandRule) for r in out):
        raise InputError("rules must be a TOML path or a non-empty sequence of DemandRule", field="rules")
    return out


# --------------------------------------------------------------------------------------------- helpers
def _norm_header(text: Any) -> str:
    return "".join(str(text).split()).lower()


def _read_csv(path: Path) -> pd.DataFrame:
    last: Exception | None = None
    for enc in ("utf-8-sig", "gb18030"):
        try:
            return pd.read_csv(path, encoding=enc)
        except UnicodeDecodeError as exc:
            last = exc
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise InputError(f"cannot read CSV {path.name}: {exc}", field="path") from None
    raise InputError(f"cannot decode CSV {path.name} as UTF-8 or GBK: {last}", field="path")


def _find_column(frame: pd.DataFrame, names: Iterable[str]) -> str | None:
    wanted = {_norm_header(n) for n in names}
    for col in frame.columns:
        if _norm_header(col) in wanted:
            return str(col)
    return None


def _read_vector(path: Path) -> gpd.GeoDataFrame:
    gdf = read_vector_file(path, what="a points file", field="path")
    if not isinstance(gdf, gpd.GeoDataFrame) or gdf.geometry.name not in gdf.columns:
        raise InputError(f"{path.name} has no geometry", field="path")
    return gdf


def _as_path(value: str | Path, *, field: str) -> Path:
    p = Path(value).expanduser()
    if not p.is_file():
        raise NotFoundError(f"file not found: {p}", field=field)
    return p


def _points_csv(path: Path) -> gpd.GeoDataFrame:
    df = _read_csv(path)
    aliases = column_aliases()
    lon_col = _find_column(df, aliases.get("lon", ("lon",)))
    lat_col = _find_column(df, aliases.get("lat", ("lat",)))
    if lon_col is None or lat_col is None:
        missing = "lon" if lon_col is None else "lat"
        seen = ", ".join(map(str, df.columns))
        raise InputError(f"{path.name}: no {missing} column; headers seen: {seen}", field=missing)
    lon = pd.to_numeric(df[lon_col], errors="coerce")
    lat = pd.to_numeric(df[lat_col], errors="coerce")
    bad = np.flatnonzero(lon.isna().to_numpy() | lat.isna().to_numpy())
    if bad.size:
        rows = ", ".join(str(int(i) + 2) for i in bad[:10])
        raise InputError(f"{path.name}: missing or non-numeric coordinates on line(s) {rows}", field="lon")
    return gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(lon, lat), crs=WGS84)


def _to_wgs84(gdf: gpd.GeoDataFrame, *, src: str, name: str) -> gpd.GeoDataFrame:
    """Return WGS-84 lon/lat geometry; ``src`` is the named lon/lat datum of the numbers."""
    if gdf.crs is None:
        logger.info("%s has no CRS; reading its coordinates as longitude/latitude", name)
        gdf = gdf.set_crs(WGS84)
    elif not gdf.crs.is_geographic or gdf.crs.to_epsg() != 4326:
        if src != "wgs84":
            raise InputError(
                f"{name}: crs={src} applies to longitude/latitude numbers, but the file is in {gdf.crs.name}",
                field="crs",
            )
        gdf = gdf.to_crs(WGS84)
    if src != "wgs84":
        pts = shapely.get_coordinates(gdf.geometry.values)
        if len(pts) != len(gdf):
            raise InputError(f"{name}: coordinate conversion needs one point per row", field="crs")
        lon, lat = convert(pts[:, 0], pts[:, 1], src=src, dst="wgs84")
        gdf = gdf.set_geometry(gpd.points_from_xy(np.asarray(lon), np.asarray(lat), crs=WGS84))
        logger.info("%s: converted %d points from %s to WGS-84", name, len(gdf), src)
    return gdf


def _check_lonlat(gdf: gpd.GeoDataFrame, *, name: str) -> None:
    xy = shapely.get_coordinates(gdf.geometry.values)
    bad = (xy[:, 0] < -180) | (xy[:, 0] > 180) | (xy[:, 1] < -90) | (xy[:, 1] > 90)
    if bad.any():
        raise InputError(f"{name}: {int(bad.sum())} point(s) outside longitude/latitude range", field="lon")


def _representative_points(gdf: gpd.GeoDataFrame, *, name: str) -> gpd.GeoDataFrame:
    geom = gdf.geometry
    missing = geom.isna().to_numpy() | geom.is_empty.to_numpy()
    if missing.any():
        rows = ", ".join(str(i) for i in np.flatnonzero(missing)[:10])
        raise InputError(f"{name}: {int(missing.sum())} feature(s) without geometry (rows {rows})",
                         field="geometry")
    not_point = (geom.geom_type != "Point").to_numpy()
    if not_point.any():
        logger.info("%s: %d non-point features replaced by representative points", name, int(not_point.sum()))
        new = geom.copy()
        new[not_point] = geom[not_point].representative_point()
        gdf = gdf.set_geometry(new)
    return gdf


def _finish(
    gdf: gpd.GeoDataFrame,
    *,
    ids: Sequence[str],
    group: Sequence[str] | str,
    weight: Sequence[float] | np.ndarray | float,
    layer: str,
) -> gpd.GeoDataFrame:
    """Put the canonical columns first, keep the others, geometry last (EPSG:4326)."""
    geom_name = gdf.geometry.name
    rest = gdf.drop(columns=[c for c in (*DEMAND_COLUMNS, geom_name) if c in gdf.columns])
    # an input column named like a canonical one is kept with an ``input_`` prefix
    for c in DEMAND_COLUMNS:
        if c in gdf.columns:
            rest[f"input_{c}"] = gdf[c].to_numpy()
    out = pd.DataFrame(
        {
            "demand_id": pd.Series(list(ids), dtype=object).astype(str).to_numpy(),
            "group": np.broadcast_to(np.asarray(group, dtype=object), (len(gdf),)),
            "weight": np.broadcast_to(np.asarray(weight, dtype=float), (len(gdf),)).copy(),
            "layer": layer,
        },
        index=range(len(gdf)),
    )
    rest = rest.reset_index(drop=True)
    frame = pd.concat([out, rest], axis=1)
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(gdf.geometry.to_numpy(), crs=WGS84), crs=WGS84)


def _weights_from(frame: pd.DataFrame, field: str, *, name: str) -> np.ndarray:
    if field not in frame.columns:
        raise InputError(f"{name}: no weight column {field!r}; columns: {', '.join(map(str, frame.columns))}",
                         field="weight_field")
    w = pd.to_numeric(frame[field], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(w) | (w < 0)
    if bad.any():
        rows = ", ".join(str(int(i) + 1) for i in np.flatnonzero(bad)[:10])
        raise InputError(
            f"{name}: weight column {field!r} must hold numbers ≥ 0 (bad record(s) {rows}, counted from 1)",
            field="weight_field",
        )
    return w


def _groups_from(frame: pd.DataFrame, field: str, *, name: str) -> list[str]:
    if field not in frame.columns:
        raise InputError(f"{name}: no group column {field!r}", field="group_field")
    cache: dict[str, str] = {}
    out = []
    for v in frame[field].tolist():
        key = "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)
        if key not in cache:
            cache[key] = resolve_worker_group(key, field="group_field")
        out.append(cache[key])
    return out


def _load_input(path_or_gdf: str | Path | gpd.GeoDataFrame, *, field: str) -> tuple[gpd.GeoDataFrame, str]:
    if isinstance(path_or_gdf, gpd.GeoDataFrame):
        return path_or_gdf.copy(), "input frame"
    if isinstance(path_or_gdf, pd.DataFrame):
        raise InputError("expected a GeoDataFrame or a file path, got a plain DataFrame", field=field)
    path = _as_path(path_or_gdf, field=field)
    if path.suffix.lower() in {".csv", ".txt"}:
        return _points_csv(path), path.name
    return _read_vector(path), path.name


# --------------------------------------------------------------------------------------------- points
def demand_from_points(
    path_or_gdf: str | Path | gpd.GeoDataFrame,
    *,
    group: str | None = None,
    group_field: str | None = None,
    weight_field: str | None = None,
    crs: str = "wgs84",
) -> gpd.GeoDataFrame:
    """Read demand points from a file or frame (layer ``points_file``).

    Parameters
    ----------
    path_or_gdf : str, Path or GeoDataFrame
        A CSV with longitude/latitude headers (``lon``/``lng``/``经度`` and ``lat``/``纬度``, UTF-8 or
        GBK) or any vector file GeoPandas reads; non-point features become representative points.
    group : str, optional
        Worker group (code or label) of every point.
    group_field : str, optional
        Column holding each point's worker group. When neither ``group`` nor ``group_field`` is given,
        a ``group`` column is used if present, else every point is ``other``.
    weight_field : str, optional
        Column holding each point's weight (≥ 0); default a ``weight`` column if present, else 1.
    crs : {"wgs84", "gcj02", "bd09"}
        Datum of the longitude/latitude numbers; GCJ-02 (Amap/Tencent) and BD-09 (Baidu) are converted.

    Returns
    -------
    GeoDataFrame
        Canonical demand frame in EPSG:4326 with ``source_crs`` and the input columns kept.

    Raises
    ------
    NotFoundError
        If the file does not exist.
    InputError
        On unreadable files, missing coordinate/weight/group columns, negative weights, unknown groups.
    """
    src = resolve_crs(crs, field="crs")
    if group is not None and group_field is not None:
        raise InputError("give group or group_field, not both", field="group")
    group_code = resolve_worker_group(group, field="group") if group is not None else None
    gdf, name = _load_input(path_or_gdf, field="path")
    if gdf.empty:
        raise InputError(f"{name} has no points", field="path")
    gdf = _representative_points(gdf, name=name)
    gdf = _to_wgs84(gdf, src=src, name=name)
    _check_lonlat(gdf, name=name)

    if group_code is not None:
        groups: list[str] | str = group_code
    elif group_field is not None:
        groups = _groups_from(gdf, group_field, name=name)
    elif "group" in gdf.columns:
        groups = _groups_from(gdf, "group", name=name)
    else:
        logger.info("%s: no group given, every point is group 'other'", name)
        groups = "other"
    if weight_field is not None:
        weights: np.ndarray | float = _weights_from(gdf, weight_field, name=name)
    elif "weight" in gdf.columns:
        weights = _weights_from(gdf, "weight", name=name)
    else:
        weights = 1.0
    gdf = gdf.assign(source_crs=src)
    ids = [f"pt-{i}" for i in range(len(gdf))]
    out = _finish(gdf, ids=ids, group=groups, weight=weights, layer="points_file")
    logger.info("demand from points %s: %d points, total weight %.1f", name, len(out), out["weight"].sum())
    return out


# --------------------------------------------------------------------------------------------- POIs
def demand_from_pois(
    path_or_gdf: str | Path | gpd.GeoDataFrame,
    *,
    rules: str | Path | Sequence[DemandRule] | None = None,
) -> gpd.GeoDataFrame:
    """Turn points of interest into demand with the tag rules of ``data/demand_rules.toml`` (layer ``pois``).

    Each POI is matched against the rules in order; the first matching rule gives one demand point per
    worker group it names, with that group's weight. Polygons and lines become representative points.
    POIs that match no rule are dropped and counted in the log. The rule used is kept in ``rule`` and
    the POI's row number in ``poi_index``.

    Parameters
    ----------
    path_or_gdf : str, Path or GeoDataFrame
        POIs in WGS-84 with OSM tag columns (``amenity``, ``shop``, ``office``, ...) or a Tilezen ``kind``
        column; a vector file or a CSV with lon/lat headers.
    rules : path or sequence of DemandRule, optional
        Rules to use instead of ``data/demand_rules.toml``.

    Returns
    -------
    GeoDataFrame
        Canonical demand frame in EPSG:4326 (``demand_id``, ``group``, ``weight``, ``layer``, ``rule``,
        ``poi_index``, the POI columns, geometry).

    Raises
    ------
    NotFoundError
        If the file does not exist.
    InputError
        If the file cannot be read, has no geometry, or the rules are malformed.
    """
    rule_list = _coerce_rules(rules)
    gdf, name = _load_input(path_or_gdf, field="path")
    if gdf.empty:
        raise InputError(f"{name} has no features", field="path")
    gdf = _representative_points(gdf, name=name)
    gdf = _to_wgs84(gdf, src="wgs84", name=name)
    gdf = gdf.reset_index(drop=True)

    chosen = np.full(len(gdf), -1, dtype=int)
    for k, rule in enumerate(rule_list):
        free = chosen < 0
        if not free.any():
            break
        chosen[free & rule.mask(gdf)] = k
    dropped = int((chosen < 0).sum())
    logger.info("demand from POIs %s: %d of %d POIs matched a rule, %d dropped (no rule)",
                name, len(gdf) - dropped, len(gdf), dropped)

    parts: list[gpd.GeoDataFrame] = []
    for k, rule in enumerate(rule_list):
        rows = np.flatnonzero(chosen == k)
        if rows.size == 0:
            continue
        sub = gdf.iloc[rows]
        for group, weight in rule.weights:
            part = sub.assign(rule=rule.name, poi_index=rows)
            ids = [f"poi-{i}-{group}" for i in rows]
            parts.append(_finish(part, ids=ids, group=group, weight=weight, layer="pois"))
    if not parts:
        logger.warning("demand from POIs %s: no POI matched any rule", name)
        empty = _finish(gdf.iloc[[]].assign(rule=pd.Series(dtype=object), poi_index=pd.Series(dtype=int)),
                        ids=[], group="other", weight=0.0, layer="pois")
        return empty
    out = pd.concat(parts, ignore_index=True)
    out = out.sort_values(["poi_index", "group"], kind="stable").reset_index(drop=True)
    return gpd.GeoDataFrame(out, geometry="geometry", crs=WGS84)


# --------------------------------------------------------------------------------------------- grid
def demand_from_grid(
    path_or_gdf: str | Path | gpd.GeoDataFrame,
    *,
    weight_field: str,
    group: str,
) -> gpd.GeoDataFrame:
    """Turn weighted grid cells (polygons) into demand points at their centroids (layer ``grid``).

    Parameters
    ----------
    path_or_gdf : str, Path or GeoDataFrame
        Polygon cells (any CRS with a definition; no CRS means WGS-84), e.g. a population grid.
    weight_field : str
        Column with each cell's weight (≥ 0).
    group : str
        Worker group of every cell.

    Returns
    -------
    GeoDataFrame
        Canonical demand frame in EPSG:4326, one point per cell (centroid computed in a metric CRS).

    Raises
    ------
    NotFoundError
        If the file does not exist.
    InputError
        If cells are not polygons, or the weight column is missing or invalid.
    """
    code = resolve_worker_group(group, field="group")
    gdf, name = _load_input(path_or_gdf, field="path")
    if gdf.empty:
        raise InputError(f"{name} has no cells", field="path")
    weights = _weights_from(gdf, weight_field, name=name)
    geom = gdf.geometry
    if geom.isna().any() or geom.is_empty.any():
        raise InputError(f"{name}: some cells have no geometry", field="geometry")
    not_poly = ~geom.geom_type.isin(["Polygon", "MultiPolygon"])
    if not_poly.any():
        kinds = ", ".join(sorted(set(geom[not_poly].geom_type)))
        raise InputError(f"{name}: grid cells must be polygons, found {kinds}", field="geometry")
    if gdf.crs is None:
        gdf = gdf.set_crs(WGS84)
    wgs = gdf.to_crs(WGS84)
    utm = wgs.estimate_utm_crs()
    centroids = wgs.geometry.to_crs(utm).centroid.to_crs(WGS84)
    pts = wgs.set_geometry(centroids.to_numpy())
    pts = pts.set_crs(WGS84, allow_override=True)
    _check_lonlat(pts, name=name)
    ids = [f"cell-{i}" for i in range(len(pts))]
    out = _finish(pts, ids=ids, group=code, weight=weights, layer="grid")
    logger.info("demand from grid %s: %d cells, total weight %.1f", name, len(out), float(weights.sum()))
    return out


# --------------------------------------------------------------------------------------------- network
def _edges_of(network_or_edges: Any) -> gpd.GeoDataFrame:
    if isinstance(network_or_edges, gpd.GeoDataFrame):
        edges = network_or_edges
    elif hasattr(network_or_edges, "edges_frame"):
        edges = network_or_edges.edges_frame()
    else:
        raise InputError("expected a Network or a GeoDataFrame of street edges", field="network")
    if not isinstance(edges, gpd.GeoDataFrame) or edges.crs is None:
        raise InputError("street edges must be a GeoDataFrame with a CRS", field="network")
    return edges


def _undirected_edges(edges: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Drop the reverse copy of two-way streets so that every street counts once.

    Two edges are the same street when they join the same two nodes (either way round) along the same
    line; this also merges OSM ways mapped twice on the same nodes, which osmnx keeps as parallel edges.
    """
    geom = edges.geometry
    keep = geom.notna().to_numpy() & ~geom.is_empty.to_numpy()
    edges = edges[keep]
    lines = edges.geometry.values
    # the same street in both directions has the same normalised geometry
    key = pd.Series(shapely.to_wkb(shapely.normalize(shapely.set_precision(lines, 1e-7))), index=edges.index)
    if {"u", "v"}.issubset(edges.columns):
        u = edges["u"].to_numpy()
        v = edges["v"].to_numpy()
        lo = np.where(u <= v, u, v)
        hi = np.where(u <= v, v, u)
        frame = pd.DataFrame({"lo": lo, "hi": hi, "g": key.to_numpy()}, index=edges.index)
        dup = frame.duplicated(subset=["lo", "hi", "g"])
    else:
        dup = key.duplicated()
    return edges[~dup.to_numpy()]


def street_length_meters(network_or_edges: Any) -> float:
    """Return the total street length in metres, each two-way street counted once.

    Parameters
    ----------
    network_or_edges : Network or GeoDataFrame
        A :class:`geo.network.Network` (its ``edges_frame()``) or street edges (LineStrings, any CRS).

    Returns
    -------
    float
        Length measured in the local UTM CRS.
    """
    edges = _undirected_edges(_edges_of(network_or_edges).to_crs(WGS84))
    if edges.empty:
        return 0.0
    return float(edges.geometry.to_crs(edges.estimate_utm_crs()).length.sum())


def demand_from_network(
    network_or_edges: Any,
    *,
    group: str = "sanitation_worker",
    meters_per_point: float = 100.0,
    weight_per_km: float = 1.0,
) -> gpd.GeoDataFrame:
    """Spread demand along the streets, weight proportional to street length (layer ``street_length``).

    This is the sanitation-beat proxy and the default when no demand is given. Arcs are taken once
    (two-way pairs and ways mapped twice on the same nodes count once) and merged into streets between
    junctions; every street gets ``ceil(length / meters_per_point)`` evenly spaced points (at the middle
    of equal pieces, at least one per street), and the street's weight ``length_km * weight_per_km`` is
    split equally among them, so the total weight is the total street length in km times
    ``weight_per_km``. Lengths are measured in the local UTM CRS.

    Parameters
    ----------
    network_or_edges : Network or GeoDataFrame
        A :class:`geo.network.Network` (its ``edges_frame()``) or street edges as LineStrings.
    group : str
        Worker group of the points (default ``sanitation_worker``).
    meters_per_point : float
        Spacing of the points along a street, metres (> 0).
    weight_per_km : float
        Weight per kilometre of street (≥ 0).

    Returns
    -------
    GeoDataFrame
        Canonical demand frame in EPSG:4326 with ``street_index`` (merged street the point lies on)
        and ``street_meters`` (length of street each point stands for).

    Raises
    ------
    InputError
        On a bad spacing, weight or group, or when there are no street edges.
    """
    check_positive(meters_per_point, field="meters_per_point")
    check_non_negative(weight_per_km, field="weight_per_km")
    code = resolve_worker_group(group, field="group")
    edges = _undirected_edges(_edges_of(network_or_edges).to_crs(WGS84))
    lines_only = edges.geom_type.isin(["LineString", "MultiLineString"]).to_numpy()
    edges = edges[lines_only]
    if edges.empty:
        raise InputError("the network has no street edges to spread demand along", field="network")
    utm = edges.estimate_utm_crs()
    # merge arcs into streets between junctions (unsimplified networks have arcs of a few metres)
    parts = shapely.get_parts(edges.geometry.to_crs(utm).values)
    streets = shapely.get_parts(shapely.line_merge(shapely.multilinestrings(parts)))
    lengths = shapely.length(streets)
    keep = lengths > 0
    streets, lengths = streets[keep], lengths[keep]
    n_pts = np.maximum(1, np.ceil(lengths / float(meters_per_point)).astype(int))
    street_idx = np.repeat(np.arange(len(streets)), n_pts)
    starts = np.cumsum(n_pts) - n_pts
    k = np.arange(n_pts.sum()) - np.repeat(starts, n_pts)
    frac = (k + 0.5) / n_pts[street_idx]
    pts_m = shapely.line_interpolate_point(streets[street_idx], frac, normalized=True)
    pts = gpd.GeoSeries(pts_m, crs=utm).to_crs(WGS84)
    street_m = lengths[street_idx] / n_pts[street_idx]
    weights = street_m / 1000.0 * float(weight_per_km)
    base = gpd.GeoDataFrame(
        {"street_index": street_idx, "street_meters": street_m}, geometry=pts.to_numpy(), crs=WGS84
    )
    ids = [f"st-{i}" for i in range(len(base))]
    out = _finish(base, ids=ids, group=code, weight=weights, layer="street_length")
    logger.warning(
        "demand from street length (sanitation-beat proxy, layer 'street_length'): %d points along "
        "%.1f km of street, %.0f m apart, %.3g weight per km, group %s",
        len(out), lengths.sum() / 1000.0, meters_per_point, weight_per_km, code,
    )
    return out


# --------------------------------------------------------------------------------------------- combine
def validate_demand(demand: gpd.GeoDataFrame, *, field: str = "demand") -> None:
    """Check that a frame follows the demand contract (raise :class:`InputError` if not).

    Checks the canonical columns, unique ``demand_id``, known groups, finite weights ≥ 0, Point
    geometry and EPSG:4326.
    """
    check_point_frame(demand, field=field)
    missing = [c for c in DEMAND_COLUMNS if c not in demand.columns]
    if missing:
        raise InputError(f"demand frame lacks column(s) {', '.join(missing)}", field=field)
    if demand["demand_id"].duplicated().any():
        dups = demand.loc[demand["demand_id"].duplicated(), "demand_id"].head(5).tolist()
        raise InputError(f"demand_id values repeat: {dups}", field=field)
    check_weights(demand["weight"], field=field)
    for g in set(demand["group"]):
        resolve_worker_group(str(g), field=field)


def combine_demand(*frames: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Stack demand frames into one with unique ``demand_id`` values.

    Ids that repeat across frames are prefixed with the frame's layer (``pois:poi-3-courier``), and if
    still not unique with the frame's position too (``2:pois:poi-3-courier``). Columns missing in some
    frames are filled with nulls.

    Parameters
    ----------
    *frames : GeoDataFrame
        Canonical demand frames (EPSG:4326).

    Returns
    -------
    GeoDataFrame
        One canonical demand frame in EPSG:4326.

    Raises
    ------
    InputError
        If no frame is given or a frame breaks the demand contract.
    """
    if not frames:
        raise InputError("combine_demand needs at least one demand frame", field="demand")
    for f in frames:
        validate_demand(f)
    all_ids = pd.concat([f["demand_id"].astype(str) for f in frames], ignore_index=True)
    parts: list[gpd.GeoDataFrame] = []
    if all_ids.duplicated().any():
        repeated = set(all_ids[all_ids.duplicated(keep=False)])
        originals = [f["demand_id"].astype(str) for f in frames]
        prefixed = [
            ids.where(~ids.isin(repeated), f["layer"].astype(str) + ":" + ids)
            for f, ids in zip(frames, originals, strict=True)
        ]
        if pd.concat(prefixed, ignore_index=True).duplicated().any():
            prefixed = [
                ids.where(~orig.isin(repeated), f"{k}:" + ids)
                for k, (ids, orig) in enumerate(zip(prefixed, originals, strict=True))
            ]
        for f, ids in zip(frames, prefixed, strict=True):
            parts.append(f.assign(demand_id=ids.to_numpy()))
    else:
        parts = [f.copy() for f in frames]
    out = pd.concat(parts, ignore_index=True)
    result = gpd.GeoDataFrame(out, geometry=frames[0].geometry.name, crs=WGS84)
    validate_demand(result)
    return result
