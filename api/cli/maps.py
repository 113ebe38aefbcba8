"""``yizhan map``: write the planner's coverage map and the workers' finder map (爱心地图) as HTML.

Examples::

    yizhan map coverage --network nanshan.osm --stations stations.csv --demand pois:nanshan_pois.geojson \\
        --mode walk --mode ebike --add 5 --out coverage.html
    yizhan map finder --stations db --out finder.html            # offline page, straight-line estimates
    yizhan map finder --stations db --api-base https://yizhan.example.org --out finder.html

Files are self-contained by default (``--assets inline``): every script and stylesheet is embedded, only
map tiles are fetched (none with ``--tiles none``).
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

import typer

from api.cli._common import domain_errors, fail, mode_help, setup_logging
from api.cli.inputs import (
    AREAS_CODE_FIELD_OPT,
    AREAS_LEVEL_OPT,
    AREAS_NAME_FIELD_OPT,
    AREAS_OPT,
    CANDIDATES_HELP,
    DEMAND_CRS_OPT,
    STATIONS_CRS_OPT,
    load_candidates,
    option_errors,
)
from api.cli.lang import say

log = logging.getLogger(__name__)

app = typer.Typer(
    help="maps: the planner's coverage map and the workers' finder map (爱心地图)", no_args_is_help=True
)

TILES_HELP = "basemap: osm, amap (Gaode, GCJ-02: overlays are shifted) or none"
ASSETS_HELP = "inline (self-contained file), local (/static URLs served by 'yizhan serve') or cdn"


def _write(out: Path, html: str) -> None:
    """Write the page to a temporary file beside ``out`` and rename it (:func:`geo.text.atomic_path`)."""
    from geo.text import atomic_path

    with atomic_path(out, field="--out") as tmp:
        tmp.write_text(html, encoding="utf-8")


@app.command("coverage")
@domain_errors
def coverage(
    out: Path = typer.Option(..., "--out", help="HTML file to write"),
    network: Path = typer.Option(..., "--network", help="street network: .osm, .graphml or yizhan .npz"),
    stations: str = typer.Option("db", "--stations", help="a station file or 'db' (the registry)"),
    stations_crs: str | None = STATIONS_CRS_OPT,
    demand: str = typer.Option(..., "--demand", help="demand: a points file or pois:FILE"),
    demand_crs: str = DEMAND_CRS_OPT,
    mode: list[str] = typer.Option(
        ["walk"], "--mode", help=mode_help("travel mode(s), repeat for one covered-area layer per mode")
    ),
    minutes: float = typer.Option(15.0, "--minutes", help="travel-time threshold"),
    areas: Path | None = AREAS_OPT,
    areas_level: str = AREAS_LEVEL_OPT,
    areas_code_field: str | None = AREAS_CODE_FIELD_OPT,
    areas_name_field: str | None = AREAS_NAME_FIELD_OPT,
    resolution: int = typer.Option(9, "--resolution", help="H3 resolution of the gap hexagons"),
    add: int | None = typer.Option(None, "--add", help="also propose this many new sites (numbered)"),
    candidates: str | None = typer.Option(None, "--candidates", help=CANDIDATES_HELP),
    tiles: str = typer.Option("osm", "--tiles", help=TILES_HELP),
    assets: str = typer.Option("inline", "--assets", help=ASSETS_HELP),
    snap_meters: float = typer.Option(300.0, "--snap-meters", help="snap limit, metres"),
    all_statuses: bool = typer.Option(False, "--all-statuses", help="count planned stations too"),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="log progress"),
) -> None:
    """Write the planner's coverage map: stations, covered area per mode, gaps, townships, proposals."""
    setup_logging(verbose)
    from api.cli.inputs import load_areas, load_demand, load_stations
    from geo.checks import check_h3_resolution, check_minutes, check_mode, check_non_negative
    from geo.gaps import find_gaps
    from geo.network import load_network
    from maps.coverage import coverage_map

    with option_errors():
        modes = list(dict.fromkeys(check_mode(m, field="--mode") for m in mode))
        check_minutes(minutes, field="--minutes")
        check_h3_resolution(resolution, field="--resolution")
        check_non_negative(snap_meters, field="--snap-meters")
    station_frame = load_stations(stations, crs=stations_crs)
    if station_frame.empty:
        raise fail("--stations none: the coverage map needs stations")
    area_frame = None if areas is None else load_areas(
        areas, level=areas_level, code_field=areas_code_field, name_field=areas_name_field)
    nets = {modes[0]: load_network(network, mode=modes[0])}
    demand_frame, _ = load_demand(
        [demand], street_network=lambda: nets[modes[0]], crs=demand_crs, group=None, weight_field=None,
        clip=None,
    )  # fmt: skip
    nets.update({m: load_network(network, mode=m) for m in modes[1:]})
    run = {"areas": area_frame, "open_only": not all_statuses, "snap_meters": snap_meters}
    results, covered = _coverage_per_mode(nets, station_frame, demand_frame, minutes=minutes, **run)
    first = results[modes[0]]
    gaps = find_gaps(first, resolution=resolution, stations=first.stations)
    proposals = None
    if add:
        cand = load_candidates(candidates, demand_spec=demand, network=nets[modes[0]])
        proposals = _proposals(nets[modes[0]], station_frame, demand_frame, cand, minutes=minutes, add=add,
                               **run)
    fmap = coverage_map(
        first.stations, covered=covered, gaps=gaps, areas=area_frame, by_area=first.by_area,
        proposals=proposals, headline=first.summary.as_dict(), mode=modes[0], minutes=minutes, tiles=tiles,
        assets=assets, date=dt.date.today(),
    )  # fmt: skip
    _write(out, fmap.get_root().render())
    say(
        f"wrote {out} ({len(first.stations)} stations, {len(gaps)} gap hexagons, "
        f"tiles {tiles}, assets {assets})"
    )


def _coverage_per_mode(
    nets: dict[str, Any], stations: Any, demand: Any, *, minutes: float, **run: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Coverage and the covered-area polygons of every mode, one summary line each."""
    from geo.coverage import compute_coverage, covered_area

    results: dict[str, Any] = {}
    covered: dict[str, Any] = {}
    for m, net in nets.items():
        results[m] = compute_coverage(net, stations, demand, minutes=minutes, **run)
        covered[m] = covered_area(results[m])
        s = results[m].summary
        say(
            f"{m}: covered share {s.covered_share:.3f} of {s.demand_total:g} with {s.stations} stations"
        )
    return results, covered


def _proposals(net: Any, stations: Any, demand: Any, candidates: Any, *, minutes: float, add: int,
               **run: Any) -> Any:
    """``add`` new sites on the first mode's network, numbered in build order."""
    from geo.siting import plan_sites

    plan = plan_sites(net, stations, demand, candidates, minutes=minutes, add=add, **run)
    say(
        f"proposed {len(plan.selected)} site(s): "
        f"covered share {plan.share_before:.3f} -> {plan.share_after:.3f}"
    )
    return plan.selected


@app.command("finder")
@domain_errors
def finder(
    out: Path = typer.Option(..., "--out", help="HTML file to write"),
    stations: str = typer.Option("db", "--stations", help="a station file or 'db' (the registry)"),
    api_base: str | None = typer.Option(
        None,
        "--api-base",
        help="URL of a yizhan API for /nearest; without it: offline straight-line estimates",
    ),
    lang: str = typer.Option("zh", "--lang", help="zh or en"),
    mode: str = typer.Option("walk", "--mode", help=mode_help("initial travel mode")),
    k: int = typer.Option(3, "--k", help="number of stations listed"),
    tiles: str = typer.Option("osm", "--tiles", help=TILES_HELP),
    assets: str = typer.Option("inline", "--assets", help=ASSETS_HELP),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="log progress"),
) -> None:
    """Write the workers' finder map (爱心地图), a phone-first page."""
    setup_logging(verbose)
    from api.cli.inputs import load_stations
    from maps.finder import finder_page, station_records

    station_frame = load_stations(stations, crs=None)
    if station_frame.empty:
        raise fail("--stations none: the finder needs stations")
    html = finder_page(
        station_frame, api_base=api_base, lang=lang, tiles=tiles, assets=assets, mode=mode, k=k
    )
    _write(out, html)
    how = f"API {api_base}" if api_base is not None else "offline, straight-line estimates"
    shown = len(station_records(station_frame))
    say(
        f"wrote {out} ({shown} open stations of {len(station_frame)}, {how}, tiles {tiles}, assets {assets})"
    )
