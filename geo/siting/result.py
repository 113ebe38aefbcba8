"""The result of a siting run: proposed sites in build order with before/after coverage.

Geometries are WGS-84 (EPSG:4326); weights are demand weights (see the canonical demand frame).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from geo.amap import amap_url
from geo.crs import convert, resolve_crs

#: columns of :attr:`SitingResult.selected` (geometry last)
SELECTED_COLUMNS: tuple[str, ...] = (
    "order",
    "candidate_id",
    "name",
    "host_type",
    "cost",
    "lon",
    "lat",
    "gain",
    "gain_share",
    "cumulative_weight",
    "cumulative_share",
)

def proposals_table(selected: gpd.GeoDataFrame, *, crs: str = "wgs84", mode: str = "walk") -> pd.DataFrame:
    """Proposed sites as a table for people: no geometry, ``lon``/``lat`` in ``crs`` (``wgs84``,
    ``gcj02`` or ``bd09``), a ``crs`` column and ``amap_url`` (an Amap navigation link, GCJ-02, in the
    travel ``mode``). ``selected`` (EPSG:4326) is not mutated."""
    code = resolve_crs(crs)
    table = pd.DataFrame(selected.drop(columns=selected.geometry.name)).copy()
    if table.empty:
        return table.assign(crs=pd.Series(dtype=str), amap_url=pd.Series(dtype=str))
    lon, lat = table["lon"].to_numpy(float), table["lat"].to_numpy(float)
    glon, glat = convert(lon, lat, src="wgs84", dst="gcj02")
    if code != "wgs84":
        table["lon"], table["lat"] = convert(lon, lat, src="wgs84", dst=code)
    table["crs"] = code
    names = table["name"].astype(str)
    table["amap_url"] = [amap_url(x, y, n, mode) for x, y, n in zip(glon, glat, names, strict=True)]
    return table


AS_DICT_SELECTED_KEYS: tuple[str, ...] = (
    "candidate_id",
    "name",
    "host_type",
    "lon",
    "lat",
    "gain",
    "cumulative_share",
    "order",
)


#: keys of the ``per_area`` / ``per_group`` records of :meth:`SitingResult.as_dict` (those present)
AREA_KEYS: tuple[str, ...] = ("area_code", "area_name", "weight", "share_before", "share_after",
                              "share_unconstrained", "p95_before", "p95_after", "stations_before",
                              "stations_added", "bound")  # fmt: skip
GROUP_KEYS: tuple[str, ...] = ("group", "weight", "share_before", "share_after", "share_unconstrained",
                               "bound")  # fmt: skip


def _num(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def fair_records(table: pd.DataFrame, keys: tuple[str, ...]) -> list[dict[str, Any]]:
    """JSON-ready rows of a per-area or per-group table: the ``keys`` it has, numbers as floats (``None``
    for NaN or infinite: a p95 beyond the search horizon), ``bound`` as bool, counts as int, names as text."""
    cols = [k for k in keys if k in table.columns]
    out = []
    for rec in table[cols].to_dict("records"):
        row: dict[str, Any] = {}
        for k, v in rec.items():
            if k == "bound":
                row[k] = bool(v)
            elif k.startswith("stations"):
                row[k] = int(v)
            elif k in ("area_code", "area_name", "group"):
                row[k] = str(v)
            else:
                row[k] = _num(float(v))
        out.append(row)
    return out


@dataclass(frozen=True, eq=False)
class SitingResult:
    """Proposed new stations and what they change.

    Attributes
    ----------
    selected : geopandas.GeoDataFrame
        One row per proposed site in build order (phase 1, 2, ...): ``order`` (1-based), ``candidate_id``,
        ``name``, ``host_type``, ``cost``, ``lon``, ``lat`` (WGS-84), ``gain`` (newly covered weight at its
        step), ``gain_share`` (of all demand weight), ``cumulative_weight``, ``cumulative_share`` (covered
        share with the existing stations and all sites up to this one), and ``area_code`` when areas were
        given; geometry Point, EPSG:4326.
    total_weight, covered_before, covered_after : float
        All demand weight; weight covered by the existing stations; weight covered after adding the sites.
    share_before, share_after : float
        ``covered_before / total_weight`` and ``covered_after / total_weight``.
    reachable_share : float
        Share covered if every candidate were built (the ceiling of any request).
    per_area : pandas.DataFrame
        Per area: ``area_code``, ``area_name``, ``weight``, ``covered_before``, ``covered_after``,
        ``share_before``, ``share_after``, ``stations_before``, ``stations_added`` (empty without areas).
    per_group : pandas.DataFrame
        Per worker group: ``group``, ``weight``, ``covered_before``, ``covered_after``, ``share_before``,
        ``share_after``.
    model : str
        ``mclp`` (add p), ``budget`` or ``set_cover``.
    method : str
        ``exact`` (HiGHS) or ``greedy`` (lazy greedy).
    status : str
        ``optimal``, ``time_limit`` or ``heuristic``.
    objective, bound, gap : float
        Solver objective (newly covered weight for mclp/budget, number of stations for set_cover), proven
        bound and relative gap (``nan`` when unknown).
    seconds : float
        Solve time; ``coverage_seconds`` the time to build the coverage sets.
    minutes : float
        Travel-time threshold used.
    unsnappable : dict
        Counts of unsnappable demand points, candidates and stations.
    bound_source : str
        What proves ``bound``: ``highs`` (MIP dual bound), ``lp`` (LP relaxation), ``submodular`` (greedy
        prefixes), ``components`` (dynamic programme over independent components), ``exhausted``
        (everything reachable is covered), ``count`` (set covering's counting bound); empty when unknown.
    stop_reason : str
        Why fewer sites than asked are proposed (no candidate adds coverage), else empty.
    presolve : dict
        Presolve counts of the exact method: ``candidates``, ``dominated``, ``columns_before``,
        ``columns``, ``components``.
    fairness : dict
        The fairness arguments given (``min_share_per_area``, ``max_p95_per_area_minutes``,
        ``min_share_per_group``); empty for none. With areas, ``per_area`` also has ``p95_before`` and
        ``p95_after`` (lower weighted 95 % quantile of the minutes to the nearest station over all the area's
        weight, unreachable counting as infinitely far); with fairness, ``per_area`` and ``per_group`` have
        ``share_unconstrained`` (covered share with the unconstrained optimum) and ``bound`` (the area's or
        group's fairness row is active, see :mod:`geo.siting.fairness`).
    price_of_fairness : dict
        With fairness: ``weight`` (covered weight of the unconstrained optimum minus that of this plan),
        ``share`` (of all demand weight), ``relative`` (of the unconstrained covered weight),
        ``unconstrained_covered``, ``fair_covered``; empty without fairness.
    binding_areas, binding_groups : tuple of str
        Area codes and worker groups whose fairness row is active.
    """

    selected: gpd.GeoDataFrame
    total_weight: float
    covered_before: float
    covered_after: float
    share_before: float
    share_after: float
    reachable_share: float
    per_area: pd.DataFrame
    per_group: pd.DataFrame
    model: str
    method: str
    status: str
    objective: float
    bound: float
    gap: float
    seconds: float
    coverage_seconds: float
    minutes: float
    unsnappable: dict[str, int] = field(default_factory=dict)
    bound_source: str = ""
    stop_reason: str = ""
    presolve: dict[str, int] = field(default_factory=dict)
    fairness: dict[str, float] = field(default_factory=dict)
    price_of_fairness: dict[str, float] = field(default_factory=dict)
    binding_areas: tuple[str, ...] = ()
    binding_groups: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary with exactly the keys method, status, objective, bound, gap, bound_source,
        seconds, stop_reason (``None`` when every site asked for is proposed), presolve, covered_before,
        covered_after, share_before, share_after, selected (list of candidate_id, name, host_type, lon,
        lat, gain, cumulative_share, order), per_area and per_group (lists of records, see
        :func:`fair_records`), fairness (the arguments given, ``None`` without), price_of_fairness
        (``None`` without fairness), binding_areas and binding_groups; unknown numbers are ``None``.
        ``status``, ``objective``, ``bound`` and ``gap`` are the certificate: ``optimal`` (gap within the
        solver tolerance) or ``time_limit`` for the exact method, ``heuristic`` for greedy; ``bound`` is a
        proven bound on the best possible objective (upper for maximal covering, lower for set covering)."""
        rows = []
        for rec in self.selected.itertuples(index=False):
            rows.append(
                {
                    "candidate_id": str(rec.candidate_id),
                    "name": str(rec.name),
                    "host_type": str(rec.host_type),
                    "lon": float(rec.lon),
                    "lat": float(rec.lat),
                    "gain": float(rec.gain),
                    "cumulative_share": float(rec.cumulative_share),
                    "order": int(rec.order),
                }
            )
        return {
            "method": self.method,
            "status": self.status,
            "objective": _num(self.objective),
            "bound": _num(self.bound),
            "gap": _num(self.gap),
            "bound_source": self.bound_source or None,
            "seconds": float(self.seconds),
            "stop_reason": self.stop_reason or None,
            "presolve": dict(self.presolve),
            "covered_before": float(self.covered_before),
            "covered_after": float(self.covered_after),
            "share_before": float(self.share_before),
            "share_after": float(self.share_after),
            "selected": rows,
            "per_area": fair_records(self.per_area, AREA_KEYS),
            "per_group": fair_records(self.per_group, GROUP_KEYS),
            "fairness": dict(self.fairness) or None,
            "price_of_fairness": {k: _num(v) for k, v in self.price_of_fairness.items()} or None,
            "binding_areas": list(self.binding_areas),
            "binding_groups": list(self.binding_groups),
        }

    def _export_frame(self) -> gpd.GeoDataFrame:
        out = self.selected.copy()
        for col in out.columns:
            if col != out.geometry.name and out[col].dtype == object:
                out[col] = out[col].astype(str)
        return out

    def to_geojson(self, path: str | Path, *, mode: str = "walk") -> Path:
        """Write the proposed sites as a GeoJSON FeatureCollection (EPSG:4326 as RFC 7946 requires,
        UTF-8) with an ``amap_url`` per site, through a temporary file. Returns the path."""
        from geo.text import atomic_path

        frame = self._export_frame()
        frame["amap_url"] = proposals_table(self.selected, mode=mode)["amap_url"].to_numpy(dtype=object)
        with atomic_path(path) as tmp:
            tmp.unlink()
            frame.to_file(tmp, driver="GeoJSON", engine="pyogrio")
        return Path(path)

    def to_csv(self, path: str | Path, *, crs: str = "wgs84", mode: str = "walk") -> Path:
        """Write the proposed sites as UTF-8 CSV with BOM (opens in Excel): :func:`proposals_table` in
        ``crs`` with Amap links; no live formulas, written atomically."""
        from geo.text import write_csv

        return write_csv(proposals_table(self.selected, crs=crs, mode=mode), path)

    def areas_to_csv(self, path: str | Path) -> Path:
        """Write the per-area table (shares before/after, p95, and with fairness the unconstrained share and
        ``bound``) as UTF-8 CSV with BOM."""
        from geo.text import write_csv

        return write_csv(self.per_area, path)

    def summary_frame(self) -> pd.DataFrame:
        """Key figures as a two-column table (``item``, ``value``)."""
        items = [
            ("model", self.model),
            ("method", self.method),
            ("status", self.status),
            ("objective", _num(self.objective)),
            ("bound", _num(self.bound)),
            ("gap", _num(self.gap)),
            ("bound_source", self.bound_source),
            ("stop_reason", self.stop_reason),
            ("seconds", self.seconds),
            ("coverage_seconds", self.coverage_seconds),
            ("minutes", self.minutes),
            ("total_weight", self.total_weight),
            ("covered_before", self.covered_before),
            ("covered_after", self.covered_after),
            ("share_before", self.share_before),
            ("share_after", self.share_after),
            ("reachable_share", self.reachable_share),
            ("sites_added", len(self.selected)),
            *((f"unsnappable_{k}", v) for k, v in self.unsnappable.items()),
            *((k, v) for k, v in self.fairness.items()),
            *((f"price_of_fairness_{k}", v) for k, v in self.price_of_fairness.items()),
            *((("binding_areas", " ".join(self.binding_areas)),) if self.fairness else ()),
            *((("binding_groups", " ".join(self.binding_groups)),) if self.fairness else ()),
        ]
        return pd.DataFrame(items, columns=["item", "value"])

    def to_excel(self, path: str | Path, *, crs: str = "wgs84", mode: str = "walk") -> Path:
        """Write an XLSX workbook: sheets ``proposals`` (:func:`proposals_table` in ``crs``), ``areas``,
        ``groups`` and ``summary``; string cells, never formulas; atomic."""
        from geo.text import write_xlsx

        proposals = proposals_table(self.selected, crs=crs, mode=mode)
        sheets = {"proposals": proposals, "areas": self.per_area, "groups": self.per_group,
                  "summary": self.summary_frame()}
        return write_xlsx(sheets, path)
