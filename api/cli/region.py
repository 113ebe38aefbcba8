"""``yizhan region coverage`` and ``yizhan map region``: every county's coverage on Dask, one map.

Examples::

    yizhan region coverage --networks nets/ --stations stations.csv --demand demand/ --mode walk \\
        --minutes 15 --scheduler local:2 --out out/region --json
    yizhan region coverage ... --scheduler tcp://10.0.0.5:8786 --out out/region
    yizhan map region --result out/region --out region.html

``--networks`` is a folder written by ``yizhan network build-areas`` (``manifest.json`` and
``<code>/<mode>.npz``); on a cluster every worker must read it at the same path.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import typer

from api.cli._common import domain_errors, fail, mode_help, print_json, setup_logging
from api.cli.inputs import (
    DEMAND_CRS_OPT,
    STATIONS_CRS_OPT,
    candidate_spacing,
    load_areas,
    load_demand,
    load_stations,
    option_errors,
)
from api.cli.lang import say

log = logging.getLogger(__name__)

app = typer.Typer(help="region: every county's coverage as Dask tasks (全国一张图)", no_args_is_help=True)

DEMAND_SUFFIXES = (".csv", ".geojson", ".json", ".gpkg", ".shp")


def _demand_specs(demand: Path) -> list[str]:
    """A demand file, or every points file of a folder (sorted by name)."""
    if demand.is_dir():
        files = sorted(
            p for p in demand.iterdir() if p.is_file() and p.name.lower().endswith(DEMAND_SUFFIXES)
        )
        if not files:
            raise fail(f"--demand: no points files ({', '.join(DEMAND_SUFFIXES)}) in {demand}")
        return [str(p) for p in files]
    if not demand.is_file():
        raise fail(f"--demand: file or folder not found: {demand}", 3)
    return [str(demand)]


def _no_street_demand() -> Any:
    raise fail("--demand: give points files (street-length demand is not available for a region)")


def _pct(x: Any) -> str:
    return "-" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{100 * x:.1f} %"


NETWORKS_OPT = typer.Option(..., "--networks", help="networks folder (manifest.json + <code>/<mode>.npz)")
REGION_STATIONS_OPT = typer.Option(..., "--stations", help="a station file or 'db' (the registry)")
REGION_DEMAND_OPT = typer.Option(..., "--demand", help="demand points file, or a folder of them")
MINUTES_OPT = typer.Option(15.0, "--minutes", help="coverage threshold, minutes")
SCHEDULER_OPT = typer.Option("local", "--scheduler", help="local, local:N or tcp://HOST:PORT")
SNAP_OPT = typer.Option(300.0, "--snap-meters", help="snap limit, metres")
ALL_STATUSES_OPT = typer.Option(False, "--all-statuses", help="count planned stations too")
VERBOSE_OPT = typer.Option(False, "--verbose", "-v", help="log progress")


def _checked_run(networks: Path, mode: str, minutes: float, snap_meters: float) -> str:
    """The cheap checks first, before any input is read: mode, numbers, the networks folder."""
    from geo.checks import check_minutes, check_mode, check_non_negative
    from geo.region import read_manifest

    with option_errors():
        mode = check_mode(mode, field="--mode")
        check_minutes(minutes, field="--minutes")
        check_non_negative(snap_meters, field="--snap-meters")
    with option_errors("--networks"):
        read_manifest(networks)
    return mode


def _region_inputs(stations: str, stations_crs: str | None, demand: Path, demand_crs: str) -> tuple[Any, Any]:
    """The stations and the demand points (converted to WGS-84 on input) of a region run."""
    station_frame = load_stations(stations, crs=stations_crs)
    demand_frame, _info = load_demand(
        _demand_specs(demand), street_network=_no_street_demand, crs=demand_crs, group=None,
        weight_field=None, clip=None,
    )  # fmt: skip
    return station_frame, demand_frame


@app.command("coverage")
@domain_errors
def coverage(
    networks: Path = NETWORKS_OPT,
    stations: str = REGION_STATIONS_OPT,
    stations_crs: str | None = STATIONS_CRS_OPT,
    demand: Path = REGION_DEMAND_OPT,
    demand_crs: str = DEMAND_CRS_OPT,
    out: Path = typer.Option(..., "--out", help="result folder (replaced as a whole)"),
    mode: str = typer.Option("walk", "--mode", help=mode_help()),
    minutes: float = MINUTES_OPT,
    horizon_minutes: float | None = typer.Option(
        None, "--horizon-minutes",
        help="search limit, minutes (default 60, or less when the networks' halo allows less)",
    ),
    scheduler: str = SCHEDULER_OPT,
    areas: Path | None = typer.Option(
        None, "--areas", help="county boundaries (else from the network files)"
    ),
    snap_meters: float = SNAP_OPT,
    task_arcs: int = typer.Option(
        0, "--task-arcs", help="neighbouring counties as one task, up to ~this many arcs (0: one per county)"
    ),
    all_statuses: bool = ALL_STATUSES_OPT,
    as_json: bool = typer.Option(False, "--json", help="print the summary as JSON"),
    verbose: bool = VERBOSE_OPT,
) -> None:
    """Coverage of every county network of a folder, one Dask task each, merged into OUT."""
    setup_logging(verbose)
    from geo.checks import check_horizon_minutes
    from geo.region import region_coverage, write_region_result

    mode = _checked_run(networks, mode, minutes, snap_meters)
    if horizon_minutes is not None:
        with option_errors():
            check_horizon_minutes(horizon_minutes, minutes=minutes, field="--horizon-minutes")
    area_frame = load_areas(areas, level="county") if areas is not None else None
    station_frame, demand_frame = _region_inputs(stations, stations_crs, demand, demand_crs)
    with option_errors():
        result = region_coverage(
            networks, station_frame, demand_frame, mode=mode, minutes=minutes,
            horizon_minutes=horizon_minutes, snap_meters=snap_meters, areas=area_frame,
            open_only=not all_statuses, scheduler=scheduler, progress=not as_json, task_arcs=task_arcs,
            previous=out if (out / "summary.json").is_file() else None,
        )  # fmt: skip
        write_region_result(result, out)
    if as_json:
        print_json(result.summary)
        return
    _echo_coverage(result.summary, out)


def _echo_coverage(s: dict[str, Any], out: Path) -> None:
    """The text summary of a region coverage run."""
    say(
        f"{s['mode']}, {s['minutes']:g} min (horizon {s['horizon_minutes']:g}): "
        f"covered {_pct(s['covered_share'])} "
        f"of {s['demand']:.1f} demand in {s['run']['areas']} area(s) "
        f"({s['run']['tasks_computed']} computed, {s['run']['tasks_reused']} reused)"
    )
    if s["outside_areas"]["count"]:
        say(
            f"note: {s['outside_areas']['count']} demand point(s) lie outside every area (listed in "
            "summary.json)"
        )
    for row in s["rollups"]["province"]:
        say(f"  province {row['code']}: {_pct(row['covered_share'])} of {row['demand']:.1f}")
    say(f"wrote {out}/points.parquet, areas.csv, areas.parquet, summary.json")


@app.command("site")
@domain_errors
def site(
    networks: Path = NETWORKS_OPT,
    stations: str = REGION_STATIONS_OPT,
    stations_crs: str | None = STATIONS_CRS_OPT,
    demand: Path = REGION_DEMAND_OPT,
    demand_crs: str = DEMAND_CRS_OPT,
    out: Path = typer.Option(..., "--out", help="proposals file (.geojson or .csv)"),
    candidates: str = typer.Option(
        "network:300", "--candidates", help="a candidates file, or network[:METERS] (street nodes per county)"
    ),
    add_per_area: int | None = typer.Option(None, "--add-per-area", help="new sites per county"),
    budget_per_area: float | None = typer.Option(None, "--budget-per-area", help="cost budget per county"),
    mode: str = typer.Option("walk", "--mode", help=mode_help()),
    minutes: float = MINUTES_OPT,
    method: str = typer.Option("exact", "--method", help="exact (HiGHS) or greedy"),
    scheduler: str = SCHEDULER_OPT,
    snap_meters: float = SNAP_OPT,
    all_statuses: bool = ALL_STATUSES_OPT,
    as_json: bool = typer.Option(False, "--json", help="print the per-county table and totals as JSON"),
    verbose: bool = VERBOSE_OPT,
) -> None:
    """Propose new stations county by county (exact siting per county, one Dask task each)."""
    setup_logging(verbose)
    from api.cli.coverage import records
    from geo.checks import check_suffix
    from geo.region.siting import region_sites

    if (add_per_area is None) == (budget_per_area is None):
        raise fail("give exactly one of --add-per-area or --budget-per-area")
    with option_errors():
        check_suffix(out, (".geojson", ".csv"), field="--out")
    mode = _checked_run(networks, mode, minutes, snap_meters)
    spacing, cand_frame = _candidate_option(candidates)
    station_frame, demand_frame = _region_inputs(stations, stations_crs, demand, demand_crs)
    with option_errors():
        res = region_sites(
            networks, station_frame, demand_frame, candidates=cand_frame, spacing_meters=spacing, mode=mode,
            minutes=minutes, add_per_area=add_per_area, budget_per_area=budget_per_area, method=method,
            snap_meters=snap_meters, open_only=not all_statuses, scheduler=scheduler,
        )  # fmt: skip
    _write_proposals(res.proposals, out)
    if as_json:
        print_json({**res.summary, "per_area": records(res.per_area)})
        return
    s = res.summary
    say(
        f"{s['sites']} site(s) in {s['areas']} county(ies): covered {_pct(s['share_before'])} -> "
        f"{_pct(s['share_after'])}; wrote {out}"
    )


def _candidate_option(candidates: str) -> tuple[float, Any]:
    """``network[:METERS]`` → (spacing, None); a candidates file → (300, its frame)."""
    with option_errors("--candidates"):
        spacing = candidate_spacing(candidates)
        if spacing is not None:
            return spacing, None
        from geo.siting import candidates_from_file

        return 300.0, candidates_from_file(candidates)


def _write_proposals(proposals: Any, out: Path) -> None:
    """The proposals as CSV (no geometry column) or GeoJSON, written to a temporary file and renamed."""
    from api.cli.coverage import write_geojson
    from geo.text import atomic_path

    with atomic_path(out, field="--out") as tmp:
        if out.suffix.lower() == ".csv":
            proposals.drop(columns="geometry").to_csv(tmp, index=False, encoding="utf-8")
        else:
            write_geojson(proposals, tmp)


def map_region(
    result: Path = typer.Option(..., "--result", help="a 'yizhan region coverage' result folder"),
    out: Path = typer.Option(..., "--out", help="HTML file to write"),
    tiles: str = typer.Option("osm", "--tiles", help="basemap: osm, amap or none"),
    assets: str = typer.Option("inline", "--assets", help="inline, local or cdn"),
    county_maps: str | None = typer.Option(
        None, "--county-maps", help="link pattern of each county's planner map, e.g. 'counties/{code}.html'"
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="log progress"),
) -> None:
    """Write the 全国一张图: counties coloured by covered share, rollups per province and prefecture."""
    setup_logging(verbose)
    from geo.region import read_region_result
    from geo.text import atomic_path
    from maps.region import region_map

    areas, summary = read_region_result(result)
    fmap = region_map(areas, summary, tiles=tiles, assets=assets, county_link=county_maps)
    with atomic_path(out, field="--out") as tmp:
        tmp.write_text(fmap.get_root().render(), encoding="utf-8")
    say(f"wrote {out} ({len(areas)} areas, tiles {tiles}, assets {assets})")


def register(root: typer.Typer, maps_app: typer.Typer) -> None:
    """``yizhan region …`` and ``yizhan map region``."""
    root.add_typer(app, name="region")
    maps_app.command("region")(domain_errors(map_region))
