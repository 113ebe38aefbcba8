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
from api.cli.inputs import load_areas, load_demand, load_stations, option_errors

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


@app.command("coverage")
@domain_errors
def coverage(
    networks: Path = typer.Option(
        ..., "--networks", help="networks folder (manifest.json + <code>/<mode>.npz)"
    ),
    stations: str = typer.Option(..., "--stations", help="a station file or 'db' (the registry)"),
    demand: Path = typer.Option(..., "--demand", help="demand points file, or a folder of them"),
    out: Path = typer.Option(..., "--out", help="result folder (replaced as a whole)"),
    mode: str = typer.Option("walk", "--mode", help=mode_help()),
    minutes: float = typer.Option(15.0, "--minutes", help="coverage threshold, minutes"),
    horizon_minutes: float | None = typer.Option(
        None,
        "--horizon-minutes",
        help="search limit, minutes (default 60, or less when the networks' halo allows less)",
    ),
    scheduler: str = typer.Option("local", "--scheduler", help="local, local:N or tcp://HOST:PORT"),
    areas: Path | None = typer.Option(
        None, "--areas", help="county boundaries (else from the network files)"
    ),
    snap_meters: float = typer.Option(300.0, "--snap-meters", help="snap limit, metres"),
    task_arcs: int = typer.Option(
        0, "--task-arcs", help="neighbouring counties as one task, up to ~this many arcs (0: one per county)"
    ),
    all_statuses: bool = typer.Option(False, "--all-statuses", help="count planned stations too"),
    as_json: bool = typer.Option(False, "--json", help="print the summary as JSON"),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="log progress"),
) -> None:
    """Coverage of every county network of a folder, one Dask task each, merged into OUT."""
    setup_logging(verbose)
    from geo.catalog import resolve_mode
    from geo.region import read_manifest, region_coverage, write_region_result

    with option_errors("--mode"):
        mode = resolve_mode(mode)
    if not (math.isfinite(minutes) and minutes > 0):
        raise fail(f"--minutes must be a number > 0, got {minutes:g}")
    if horizon_minutes is not None and not (math.isfinite(horizon_minutes) and horizon_minutes >= minutes):
        raise fail(f"--horizon-minutes must be ≥ --minutes ({minutes:g}), got {horizon_minutes:g}")
    with option_errors("--networks"):
        read_manifest(networks)  # the cheap checks first, before any input is read
    area_frame = load_areas(areas, level="county") if areas is not None else None
    station_frame = load_stations(stations, crs=None)
    demand_frame, _info = load_demand(
        _demand_specs(demand),
        street_network=_no_street_demand,
        crs="wgs84",
        group=None,
        weight_field=None,
        clip=None,
    )
    with option_errors():
        result = region_coverage(
            networks,
            station_frame,
            demand_frame,
            mode=mode,
            minutes=minutes,
            horizon_minutes=horizon_minutes,
            snap_meters=snap_meters,
            areas=area_frame,
            open_only=not all_statuses,
            scheduler=scheduler,
            previous=out if (out / "summary.json").is_file() else None,
            progress=not as_json,
            task_arcs=task_arcs,
        )
        write_region_result(result, out)
    s = result.summary
    if as_json:
        print_json(s)
        return
    typer.echo(
        f"{s['mode']}, {s['minutes']:g} min (horizon {s['horizon_minutes']:g}): "
        f"covered {_pct(s['covered_share'])} "
        f"of {s['demand']:.1f} demand in {s['run']['areas']} area(s) "
        f"({s['run']['tasks_computed']} computed, {s['run']['tasks_reused']} reused)"
    )
    if s["outside_areas"]["count"]:
        typer.echo(
            f"note: {s['outside_areas']['count']} demand point(s) lie outside every area (listed in "
            "summary.json)"
        )
    for row in s["rollups"]["province"]:
        typer.echo(f"  province {row['code']}: {_pct(row['covered_share'])} of {row['demand']:.1f}")
    typer.echo(f"wrote {out}/points.parquet, areas.csv, areas.parquet, summary.json")


@app.command("site")
@domain_errors
def site(
    networks: Path = typer.Option(
        ..., "--networks", help="networks folder (manifest.json + <code>/<mode>.npz)"
    ),
    stations: str = typer.Option(..., "--stations", help="a station file or 'db' (the registry)"),
    demand: Path = typer.Option(..., "--demand", help="demand points file, or a folder of them"),
    out: Path = typer.Option(..., "--out", help="proposals file (.geojson or .csv)"),
    candidates: str = typer.Option(
        "network:300", "--candidates", help="a candidates file, or network[:METERS] (street nodes per county)"
    ),
    add_per_area: int | None = typer.Option(None, "--add-per-area", help="new sites per county"),
    budget_per_area: float | None = typer.Option(None, "--budget-per-area", help="cost budget per county"),
    mode: str = typer.Option("walk", "--mode", help=mode_help()),
    minutes: float = typer.Option(15.0, "--minutes", help="coverage threshold, minutes"),
    method: str = typer.Option("exact", "--method", help="exact (HiGHS) or greedy"),
    scheduler: str = typer.Option("local", "--scheduler", help="local, local:N or tcp://HOST:PORT"),
    snap_meters: float = typer.Option(300.0, "--snap-meters", help="snap limit, metres"),
    all_statuses: bool = typer.Option(False, "--all-statuses", help="count planned stations too"),
    as_json: bool = typer.Option(False, "--json", help="print the per-county table and totals as JSON"),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="log progress"),
) -> None:
    """Propose new stations county by county (exact siting per county, one Dask task each)."""
    setup_logging(verbose)
    from api.cli.coverage import records, write_geojson
    from geo.catalog import resolve_mode
    from geo.region import read_manifest
    from geo.region.siting import region_sites

    with option_errors("--mode"):
        mode = resolve_mode(mode)
    if (add_per_area is None) == (budget_per_area is None):
        raise fail("give exactly one of --add-per-area or --budget-per-area")
    if out.suffix.lower() not in (".geojson", ".csv"):
        raise fail(f"--out must end in .geojson or .csv, got {out.name}")
    with option_errors("--networks"):
        read_manifest(networks)
    spacing, cand_frame = 300.0, None
    if candidates.lower().startswith("network"):
        _, _, meters = candidates.partition(":")
        try:
            spacing = float(meters) if meters else 300.0
        except ValueError:
            raise fail(f"--candidates: network:METERS needs a number, got {candidates!r}") from None
    else:
        from geo.siting import candidates_from_file

        with option_errors("--candidates"):
            cand_frame = candidates_from_file(candidates)
    station_frame = load_stations(stations, crs=None)
    demand_frame, _info = load_demand(
        _demand_specs(demand),
        street_network=_no_street_demand,
        crs="wgs84",
        group=None,
        weight_field=None,
        clip=None,
    )
    with option_errors():
        res = region_sites(
            networks,
            station_frame,
            demand_frame,
            candidates=cand_frame,
            spacing_meters=spacing,
            mode=mode,
            minutes=minutes,
            add_per_area=add_per_area,
            budget_per_area=budget_per_area,
            method=method,
            snap_meters=snap_meters,
            open_only=not all_statuses,
            scheduler=scheduler,
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    if out.suffix.lower() == ".csv":
        res.proposals.drop(columns="geometry").to_csv(tmp, index=False, encoding="utf-8")
    else:
        write_geojson(res.proposals, tmp)
    tmp.replace(out)
    if as_json:
        print_json({**res.summary, "per_area": records(res.per_area)})
        return
    s = res.summary
    typer.echo(
        f"{s['sites']} site(s) in {s['areas']} county(ies): covered {_pct(s['share_before'])} -> "
        f"{_pct(s['share_after'])}; wrote {out}"
    )


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
    from maps.region import region_map

    areas, summary = read_region_result(result)
    fmap = region_map(areas, summary, tiles=tiles, assets=assets, county_link=county_maps)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(fmap.get_root().render(), encoding="utf-8")
    tmp.replace(out)
    typer.echo(f"wrote {out} ({len(areas)} areas, tiles {tiles}, assets {assets})")


def register(root: typer.Typer, maps_app: typer.Typer) -> None:
    """``yizhan region …`` and ``yizhan map region``."""
    root.add_typer(app, name="region")
    maps_app.command("region")(domain_errors(map_region))
