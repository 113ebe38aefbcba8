"""Candidate sites for new stations: the canonical **candidates** frame.

Every function returns a GeoDataFrame in WGS-84 (EPSG:4326) with ``candidate_id`` (str, unique),
``name``, ``host_type``, ``cost`` (float ≥ 0, default 1) and a Point geometry; other input columns kept.

- :func:`candidates_from_pois`: host POIs (bank branches, fuel stations, community and 党群服务 centres,
  convenience stores, public toilets, parks, post offices, libraries …) by the tag rules in
  ``data/host_rules.toml``;
- :func:`candidates_from_file`: a planner's list (CSV with lon/lat headers, GeoJSON, GPKG, XLSX);
- :func:`candidates_from_network`: street nodes, every k-th node or one node per spacing cell.
"""

from __future__ import annotations

import logging
import math
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.catalog import DATA_DIR, column_aliases
from geo.crs import convert, resolve_crs
from geo.errors import InputError, NotFoundError
from geo.vector import read_vector_file

log = logging.getLogger(__name__)

__all__ = [
    "CANDIDATE_COLUMNS",
    "HostRule",
    "candidates_from_file",
    "candidates_from_network",
    "candidates_from_pois",
    "load_host_rules",
    "validate_candidates",
]

CANDIDATE_COLUMNS: tuple[str, ...] = ("candidate_id", "name", "host_type", "cost")
WGS84 = "EPSG:4326"
DEFAULT_RULES_PATH = DATA_DIR / "host_rules.toml"
#: the host types no rule of ``host_rules.toml`` gives (street nodes, a file's rows without a type)
BUILT_IN_HOSTS_ZH: dict[str, str] = {"street_node": "路网节点", "other": "其他"}
_NAME_COLUMNS = ("name:zh", "name", "name_zh", "名称")


@dataclass(frozen=True)
class HostRule:
    """One POI → host rule (see ``data/host_rules.toml``).

    Attributes
    ----------
    host_type : str
        Host type code given to matching POIs.
    match : tuple of (column, accepted values)
        Tag match: any column holding any accepted value.
    name_contains : tuple of str
        Name fragments: a POI whose name contains any of them matches too.
    cost : float
        Default relative set-up cost.
    label_zh : str
        Chinese label, used as a name when the POI has none.
    """

    host_type: str
    match: tuple[tuple[str, tuple[str, ...]], ...]
    name_contains: tuple[str, ...]
    cost: float
    label_zh: str

    def mask(self, frame: pd.DataFrame, names: pd.Series) -> np.ndarray:
        """Return a boolean array: which rows of ``frame`` this rule matches."""
        hit = np.zeros(len(frame), dtype=bool)
        for column, values in self.match:
            if column not in frame.columns:
                continue
            accepted = set(values)
            tokens = frame[column].map(_tokens)
            hit |= tokens.map(lambda t, acc=accepted: bool(acc.intersection(t))).to_numpy(dtype=bool)
        for frag in self.name_contains:
            hit |= names.str.contains(frag, regex=False).to_numpy(dtype=bool)
        return hit


def _tokens(value: Any) -> frozenset[str]:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return frozenset()
    words = {w.strip().lower() for w in str(value).split(";")}
    return frozenset(w for w in words if w and w not in {"no", "nan", "none"})


def load_host_rules(path: str | Path | None = None) -> tuple[HostRule, ...]:
    """Read host rules from a TOML file (default ``data/host_rules.toml``).

    Raises
    ------
    NotFoundError
        The file does not exist.
    InputError
        A rule is malformed (no host_type, nothing to match, bad cost).
    """
    p = Path(path) if path is not None else DEFAULT_RULES_PATH
    if not p.is_file():
        raise NotFoundError(f"host rules file not found: {p}", field="rules")
    with p.open("rb") as fh:
        try:
            spec = tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise InputError(f"cannot parse {p.name}: {exc}", field="rules") from None
    out: list[HostRule] = []
    for i, rule in enumerate(spec.get("rule", [])):
        out.append(_rule_from_spec(rule, where=f"{p.name} rule {i + 1}"))
    if not out:
        raise InputError(f"{p.name} holds no [[rule]] tables", field="rules")
    return tuple(out)


@cache
def host_labels_zh() -> dict[str, str]:
    """The Chinese label of every host type: those of ``data/host_rules.toml`` and
    :data:`BUILT_IN_HOSTS_ZH`."""
    labels = dict(BUILT_IN_HOSTS_ZH)
    for rule in load_host_rules():
        labels.setdefault(rule.host_type, rule.label_zh)
    return labels


def _rule_from_spec(spec: Mapping[str, Any], *, where: str) -> HostRule:
    host = spec.get("host_type")
    if not isinstance(host, str) or not host:
        raise InputError(f"host rule without a host_type in {where}", field="rules")
    match = spec.get("match", {})
    names = spec.get("name_contains", [])
    if not match and not names:
        raise InputError(
            f"host rule {host!r} in {where} has neither 'match' nor 'name_contains'", field="rules"
        )
    cost = spec.get("cost", 1.0)
    if not isinstance(cost, int | float) or not math.isfinite(cost) or cost < 0:
        raise InputError(f"host rule {host!r}: cost must be a number >= 0, got {cost!r}", field="rules")
    cols = []
    for column, values in dict(match).items():
        vals = [values] if isinstance(values, str) else list(values)
        cols.append((str(column), tuple(str(v).strip().lower() for v in vals)))
    return HostRule(
        host_type=host,
        match=tuple(cols),
        name_contains=tuple(str(n) for n in names),
        cost=float(cost),
        label_zh=str(spec.get("label_zh", host)),
    )


def _read(path_or_gdf: str | Path | gpd.GeoDataFrame, *, field: str) -> tuple[gpd.GeoDataFrame, str]:
    if isinstance(path_or_gdf, gpd.GeoDataFrame):
        return path_or_gdf.copy(), "candidates"
    p = Path(path_or_gdf).expanduser()
    if not p.is_file():
        raise NotFoundError(f"file not found: {p}", field=field)
    suffix = p.suffix.lower()
    if suffix in {".csv", ".txt", ".xlsx", ".xls"}:
        frame = _read_table(p)
        aliases = column_aliases()
        lon_col = _find(frame, aliases.get("lon", ("lon", "lng", "longitude", "经度")))
        lat_col = _find(frame, aliases.get("lat", ("lat", "latitude", "纬度")))
        if lon_col is None or lat_col is None:
            seen = ", ".join(map(str, frame.columns))
            raise InputError(f"{p.name}: no lon/lat columns; headers seen: {seen}", field=field)
        lon = pd.to_numeric(frame[lon_col], errors="coerce")
        lat = pd.to_numeric(frame[lat_col], errors="coerce")
        bad = np.flatnonzero(lon.isna().to_numpy() | lat.isna().to_numpy())
        if bad.size:
            rows = ", ".join(str(int(i) + 2) for i in bad[:10])
            raise InputError(f"{p.name}: missing or non-numeric coordinates on line(s) {rows}", field=field)
        return gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(lon, lat), crs=WGS84), p.name
    gdf = read_vector_file(p, what="a points file", field=field)
    return gdf, p.name


def _read_table(p: Path) -> pd.DataFrame:
    if p.suffix.lower() in {".xlsx", ".xls"}:
        return pd.read_excel(p)
    for enc in ("utf-8-sig", "gb18030"):
        try:
            return pd.read_csv(p, encoding=enc)
        except UnicodeDecodeError:
            continue
    raise InputError(f"cannot decode {p.name} as UTF-8 or GBK", field="candidates")


def _find(frame: pd.DataFrame, names: Sequence[str]) -> str | None:
    wanted = {"".join(str(n).split()).lower() for n in names}
    for col in frame.columns:
        if "".join(str(col).split()).lower() in wanted:
            return str(col)
    return None


def _points(gdf: gpd.GeoDataFrame, *, name: str, src: str = "wgs84") -> gpd.GeoDataFrame:
    if gdf.crs is None:
        gdf = gdf.set_crs(WGS84)
    elif gdf.crs.to_epsg() != 4326:
        gdf = gdf.to_crs(WGS84)
    geom = gdf.geometry
    missing = geom.isna().to_numpy() | geom.is_empty.to_numpy()
    if missing.any():
        rows = ", ".join(str(i) for i in np.flatnonzero(missing)[:10])
        raise InputError(
            f"{name}: {int(missing.sum())} feature(s) without geometry (rows {rows})", field="geometry"
        )
    not_point = (geom.geom_type != "Point").to_numpy()
    if not_point.any():
        new = geom.copy()
        new[not_point] = geom[not_point].representative_point()
        gdf = gdf.set_geometry(new)
    if src != "wgs84":
        lon, lat = convert(gdf.geometry.x.to_numpy(), gdf.geometry.y.to_numpy(), src=src, dst="wgs84")
        gdf = gdf.set_geometry(gpd.points_from_xy(np.asarray(lon), np.asarray(lat), crs=WGS84))
    return gdf


def _finish(
    gdf: gpd.GeoDataFrame,
    *,
    ids: Sequence[str],
    names: Sequence[str],
    host_type: Sequence[str],
    cost: Sequence[float] | np.ndarray,
) -> gpd.GeoDataFrame:
    geom_name = gdf.geometry.name
    rest = pd.DataFrame(gdf.drop(columns=[c for c in (*CANDIDATE_COLUMNS, geom_name) if c in gdf.columns]))
    for c in CANDIDATE_COLUMNS:
        if c in gdf.columns:
            rest[f"input_{c}"] = gdf[c].to_numpy()
    head = pd.DataFrame(
        {
            "candidate_id": pd.Series(list(ids), dtype=object).astype(str).to_numpy(),
            "name": list(names),
            "host_type": list(host_type),
            "cost": np.asarray(cost, dtype=np.float64),
        }
    )
    out = pd.concat([head, rest.reset_index(drop=True)], axis=1)
    res = gpd.GeoDataFrame(out, geometry=gdf.geometry.to_numpy(), crs=WGS84)
    validate_candidates(res)
    return res


def validate_candidates(candidates: gpd.GeoDataFrame, *, field: str = "candidates") -> None:
    """Check a candidates frame: canonical columns, unique ids, costs ≥ 0, points in EPSG:4326.

    Raises
    ------
    InputError
        On the first problem found.
    """
    missing = [c for c in CANDIDATE_COLUMNS if c not in candidates.columns]
    if missing:
        raise InputError(f"candidates frame lacks column(s) {', '.join(missing)}", field=field)
    if candidates.crs is None or candidates.crs.to_epsg() != 4326:
        raise InputError("candidates must be in EPSG:4326", field=field)
    dup = candidates["candidate_id"].astype(str).duplicated()
    if dup.any():
        first = candidates["candidate_id"][dup].iloc[0]
        raise InputError(f"duplicate candidate_id {first!r} ({int(dup.sum())} duplicates)", field=field)
    cost = pd.to_numeric(candidates["cost"], errors="coerce").to_numpy(dtype=np.float64)
    if not np.all(np.isfinite(cost)) or np.any(cost < 0):
        raise InputError("candidate cost must be a number >= 0 on every row", field="cost")
    if len(candidates) and not (candidates.geometry.geom_type == "Point").all():
        raise InputError("candidate geometries must be points", field=field)


def _names(gdf: pd.DataFrame) -> pd.Series:
    out = pd.Series([""] * len(gdf), index=gdf.index, dtype=object)
    for col in reversed(_NAME_COLUMNS):
        if col in gdf.columns:
            vals = gdf[col]
            ok = vals.notna() & (vals.astype(str).str.strip() != "")
            out = out.where(~ok, vals.astype(str))
    return out.astype(str)


def candidates_from_pois(
    path_or_gdf: str | Path | gpd.GeoDataFrame,
    *,
    rules: str | Path | Sequence[HostRule] | None = None,
) -> gpd.GeoDataFrame:
    """Turn host POIs into candidate sites by the rules in ``data/host_rules.toml``.

    Parameters
    ----------
    path_or_gdf : str, Path or GeoDataFrame
        POIs in WGS-84 with OSM tag columns (``amenity``, ``shop``, ``leisure``, ...) or a Tilezen ``kind``
        column; polygons are replaced by representative points.
    rules : path or sequence of HostRule, optional
        Rules to use instead of ``data/host_rules.toml``.

    Returns
    -------
    GeoDataFrame
        Canonical candidates frame (EPSG:4326); ``candidate_id`` is ``poi-<osm_type>-<osm_id>`` when the
        POIs carry OSM ids, else ``poi-<row>``; ``name`` is the POI name or the host type's Chinese label
        with the id. The matched POI's row number is kept in ``poi_index``.
    """
    rule_list = (
        tuple(rules) if isinstance(rules, Sequence) and not isinstance(rules, str) else load_host_rules(rules)
    )
    gdf, name = _read(path_or_gdf, field="path")
    gdf = _points(gdf, name=name).reset_index(drop=True)
    names = _names(gdf)
    chosen = np.full(len(gdf), -1, dtype=int)
    for k, rule in enumerate(rule_list):
        free = chosen < 0
        chosen[free & rule.mask(gdf, names)] = k
    rows = np.flatnonzero(chosen >= 0)
    log.info("candidates from POIs %s: %d of %d POIs are hosts", name, rows.size, len(gdf))
    sub = gdf.iloc[rows].assign(poi_index=rows)
    if {"osm_type", "osm_id"}.issubset(gdf.columns):
        ids = [f"poi-{t}-{i}" for t, i in zip(sub["osm_type"], sub["osm_id"], strict=True)]
    else:
        ids = [f"poi-{i}" for i in rows]
    hosts = [rule_list[k] for k in chosen[rows]]
    nm = [n if n else f"{h.label_zh} {cid}" for n, h, cid in zip(names.iloc[rows], hosts, ids, strict=True)]
    return _finish(
        sub, ids=ids, names=nm, host_type=[h.host_type for h in hosts], cost=[h.cost for h in hosts]
    )


def candidates_from_file(
    path_or_gdf: str | Path | gpd.GeoDataFrame,
    *,
    crs: str = "wgs84",
    default_cost: float = 1.0,
    default_host_type: str = "other",
) -> gpd.GeoDataFrame:
    """Read a planner's candidate list.

    Parameters
    ----------
    path_or_gdf : str, Path or GeoDataFrame
        CSV/XLSX with lon/lat headers (aliases from ``data/column_aliases.toml``) or a vector file of points.
        Optional columns ``candidate_id`` (or ``id``), ``name``, ``host_type``, ``cost``.
    crs : str, default "wgs84"
        Datum of lon/lat numbers: ``wgs84``, ``gcj02`` (Amap/Tencent) or ``bd09`` (Baidu);
        converted to WGS-84.
    default_cost, default_host_type
        Used where the file has no value.

    Returns
    -------
    GeoDataFrame
        Canonical candidates frame in EPSG:4326.
    """
    src = resolve_crs(crs)
    gdf, name = _read(path_or_gdf, field="candidates")
    gdf = _points(gdf, name=name, src=src).reset_index(drop=True)
    n = len(gdf)
    id_col = _find(gdf, ("candidate_id", "id", "编号"))
    ids = gdf[id_col].astype(str).tolist() if id_col else [f"cand-{i + 1}" for i in range(n)]
    names = _names(gdf).tolist()
    host_col = _find(gdf, ("host_type", "host", "类型"))
    host = (
        gdf[host_col].fillna(default_host_type).astype(str).tolist() if host_col else [default_host_type] * n
    )
    cost_col = _find(gdf, ("cost", "成本", "费用"))
    if cost_col:
        cost = pd.to_numeric(gdf[cost_col], errors="coerce").fillna(default_cost).to_numpy(dtype=np.float64)
    else:
        cost = np.full(n, float(default_cost))
    nm = [x if x else f"候选点 {i}" for x, i in zip(names, ids, strict=True)]
    drop = [c for c in (id_col, host_col, cost_col) if c and c not in CANDIDATE_COLUMNS]
    return _finish(gdf.drop(columns=drop), ids=ids, names=nm, host_type=host, cost=cost)


def candidates_from_network(
    network: Any,
    *,
    every: int | None = None,
    spacing_meters: float | None = None,
    cost: float = 1.0,
) -> gpd.GeoDataFrame:
    """Street nodes as candidate sites: every ``every``-th node, or one node per ``spacing_meters`` cell.

    Parameters
    ----------
    network : geo.network.Network
        Street network with node coordinates ``lon``/``lat`` (EPSG:4326).
    every : int, optional
        Keep nodes 0, k, 2k, ... (in the network's node order).
    spacing_meters : float, optional
        Lay a square grid of this cell size (local metric projection) and keep, per occupied cell, the
        node nearest the cell centre.
    cost : float, default 1
        Cost of every candidate.

    Returns
    -------
    GeoDataFrame
        Candidates ``node-<index>`` with host type ``street_node``, in EPSG:4326.
    """
    if (every is None) == (spacing_meters is None):
        raise InputError("give exactly one of every or spacing_meters", field="every")
    lon = np.asarray(network.lon, dtype=np.float64)
    lat = np.asarray(network.lat, dtype=np.float64)
    if every is not None:
        if every < 1:
            raise InputError(f"every must be >= 1, got {every}", field="every")
        nodes = np.arange(0, lon.size, every)
    else:
        if spacing_meters is None or not spacing_meters > 0:
            raise InputError(f"spacing_meters must be > 0, got {spacing_meters}", field="spacing_meters")
        lat0 = float(np.mean(lat)) if lat.size else 0.0
        k = math.pi / 180.0 * 6_371_009.0
        x = (lon - lon.min(initial=0.0)) * k * math.cos(math.radians(lat0))
        y = (lat - lat.min(initial=0.0)) * k
        cx = np.floor(x / spacing_meters)
        cy = np.floor(y / spacing_meters)
        d = np.hypot(x - (cx + 0.5) * spacing_meters, y - (cy + 0.5) * spacing_meters)
        order = np.lexsort((d, cy, cx))
        first = np.ones(order.size, dtype=bool)
        first[1:] = (cx[order][1:] != cx[order][:-1]) | (cy[order][1:] != cy[order][:-1])
        nodes = np.sort(order[first])
    gdf = gpd.GeoDataFrame({"node": nodes}, geometry=gpd.points_from_xy(lon[nodes], lat[nodes]), crs=WGS84)
    ids = [f"node-{i}" for i in nodes]
    return _finish(
        gdf,
        ids=ids,
        names=[f"{BUILT_IN_HOSTS_ZH['street_node']} {i}" for i in nodes],
        host_type=["street_node"] * nodes.size,
        cost=np.full(nodes.size, float(cost)),
    )
