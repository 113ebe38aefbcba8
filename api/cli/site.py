"""``yizhan site``: propose where the next stations should go (exact MCLP / set covering / budget, or greedy).

Example::

    yizhan site --network nanshan.osm --stations stations.csv --demand pois:nanshan_pois.geojson \\
        --candidates pois --mode walk --minutes 15 --add 5 --out proposals/ --json
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import typer

from api.cli._common import domain_errors, fail, print_json, setup_logging
from api.cli.inputs import (  # anyarea: the same --areas options as every command
    AREAS_CODE_FIELD_OPT,
    AREAS_LEVEL_OPT,
    AREAS_NAME_FIELD_OPT,
    AREAS_OPT,
    load_areas,
    load_candidates,
    load_demand,
    load_stations,
)

log = logging.getLogger(__name__)


def _print_table(result: Any) -> None:
    typer.echo(
        f"{result.model}/{result.method}: {result.status}; covered share "
        f"{result.share_before:.3f} -> {result.share_after:.3f} (reachable {result.reachable_share:.3f}); "
        f"objective {result.objective:.6g}, bound {result.bound:.6g}"
        + (f" ({result.bound_source})" if result.bound_source else "")
        + f", gap {result.gap:.3g}"
    )
    if result.stop_reason:
        typer.echo(f"stopped early: {result.stop_reason}")
    for rec in result.selected.itertuples(index=False):
        typer.echo(
            f"{rec.order:>3}  {rec.candidate_id:<28} {rec.host_type:<20} {rec.name}  "
            f"+{rec.gain:.4g} -> {rec.cumulative_share:.3f}"
        )


def register(app: typer.Typer) -> None:
    """Add this module's command(s) to the main ``yizhan`` app."""

    @app.command("site")
    @domain_errors
    def site(
        network: Path = typer.Option(..., "--network", help="street network: .osm, .graphml or yizhan .npz"),
        stations: str = typer.Option(
            "none", "--stations", help="existing stations: a station file, 'db' (the registry) or 'none'"
        ),
        demand: str = typer.Option(..., "--demand", help="demand: a points file or pois:FILE"),
        candidates: str = typer.Option(
            "pois", "--candidates", help="candidates: a file, pois[:FILE] (host POIs) or network[:METERS]"
        ),
        areas: Path | None = AREAS_OPT,
        areas_level: str = AREAS_LEVEL_OPT,
        areas_code_field: str | None = AREAS_CODE_FIELD_OPT,
        areas_name_field: str | None = AREAS_NAME_FIELD_OPT,
        mode: str = typer.Option("walk", "--mode", help="travel mode: walk or ebike"),
        minutes: float = typer.Option(15.0, "--minutes", help="travel-time threshold"),
        add: int | None = typer.Option(None, "--add", help="add this many stations (maximal covering)"),
        target_share: float | None = typer.Option(
            None, "--target-share", help="fewest stations to reach this covered share (set covering)"
        ),
        budget: float | None = typer.Option(None, "--budget", help="total budget over the candidates' cost"),
        min_per_area: int = typer.Option(0, "--min-per-area", help="stations every area must end with"),
        method: str = typer.Option("exact", "--method", help="exact (HiGHS) or greedy"),
        time_limit: float = typer.Option(60.0, "--time-limit", help="solver time limit, seconds"),
        snap_meters: float = typer.Option(300.0, "--snap-meters", help="snap limit, metres"),
        all_statuses: bool = typer.Option(
            False, "--all-statuses", help="count planned stations as fixed too"
        ),
        out: Path | None = typer.Option(
            None, "--out", help="directory for proposals.geojson, proposals.csv, proposals.xlsx"
        ),
        as_json: bool = typer.Option(False, "--json", help="print the result as JSON"),
        verbose: bool = typer.Option(False, "--verbose", "-v", help="log progress"),
        capacity_per_site: float | None = typer.Option(  # capacity: capacitated MCLP (api/cli/access.py)
            None, "--capacity-per-site",
            help="capacitated MCLP: capacity of every new site in demand-weight units (a candidates' "
            "capacity column wins); existing stations keep theirs (geo.capacity.station_capacity)",
        ),
    ) -> None:
        """Propose where the next stations should go, in build order (phase 1, 2, 3 ...)."""
        setup_logging(verbose)
        given = [n for n, v in (("--add", add), ("--target-share", target_share), ("--budget", budget)) if v]
        if sum(v is not None for v in (add, target_share, budget)) != 1:
            raise fail(
                f"give exactly one of --add, --target-share or --budget (got {', '.join(given) or 'none'})"
            )
        if min_per_area and areas is None:
            raise fail("--min-per-area needs --areas")
        from geo.catalog import resolve_mode
        from geo.network import load_network
        from geo.siting import plan_sites

        net = load_network(network, mode=resolve_mode(mode))
        station_frame = load_stations(stations, crs=None)
        demand_frame, _ = load_demand(
            [demand], street_network=lambda: net, crs="wgs84", group=None, weight_field=None, clip=None
        )
        cand_frame = load_candidates(candidates, demand_spec=demand, network=net)
        area_frame = None if areas is None else load_areas(
            areas, level=areas_level, code_field=areas_code_field, name_field=areas_name_field)
        if capacity_per_site is not None:  # capacity: route to geo/siting/capacitated.py
            from api.cli.access import capacitated_site

            others = {"--target-share": target_share is not None, "--budget": budget is not None,
                      "--min-per-area": bool(min_per_area), "--method greedy": method != "exact"}
            return capacitated_site(
                net, station_frame, demand_frame, cand_frame, area_frame, add=add, others=others,
                minutes=minutes, capacity_per_site=capacity_per_site, time_limit=time_limit,
                snap_meters=snap_meters, open_only=not all_statuses, out=out, as_json=as_json)
        result = plan_sites(
            net,
            station_frame,
            demand_frame,
            cand_frame,
            minutes=minutes,
            add=add,
            target_share=target_share,
            budget=budget,
            min_per_area=min_per_area,
            areas=area_frame,
            method=method,
            time_limit_seconds=time_limit,
            snap_meters=snap_meters,
            open_only=not all_statuses,
        )
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            result.to_geojson(out / "proposals.geojson")
            result.to_csv(out / "proposals.csv")
            result.to_excel(out / "proposals.xlsx")
        if as_json:
            print_json(result.as_dict())
        else:
            _print_table(result)
            if out is not None:
                typer.echo(
                    f"wrote {out / 'proposals.geojson'}, {out / 'proposals.csv'}, {out / 'proposals.xlsx'}"
                )
