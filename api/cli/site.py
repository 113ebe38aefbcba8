"""``yizhan site``: propose where the next stations should go (exact MCLP / set covering / budget, or greedy).

Example::

    yizhan site --network nanshan.osm --stations stations.csv --demand pois:nanshan_pois.geojson \\
        --candidates pois --mode walk --minutes 15 --add 5 --out proposals/ --json

Fairness (exact ``--add`` / ``--budget``): ``--min-share-per-area 0.3 --areas towns.geojson`` (every
乡镇/街道 at least 30 % covered), ``--max-p95-per-area 20`` (every area's p95 within 20 minutes),
``--min-share-per-group 0.5``; the output adds the price of fairness and the binding areas.
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
    CANDIDATES_HELP,
    load_areas,
    load_candidates,
    load_demand,
    load_stations,
)
from api.cli.lang import say
from geo.checks import check_minutes, check_share

log = logging.getLogger(__name__)


def _print_table(result: Any) -> None:
    say(
        f"{result.model}/{result.method}: {result.status}; covered share "
        f"{result.share_before:.3f} -> {result.share_after:.3f} (reachable {result.reachable_share:.3f}); "
        f"objective {result.objective:.6g}, bound {result.bound:.6g}"
        + (f" ({result.bound_source})" if result.bound_source else "")
        + f", gap {result.gap:.3g}"
    )
    if result.stop_reason:
        say(f"stopped early: {result.stop_reason}")
    if result.price_of_fairness:
        pof = result.price_of_fairness
        binding = ", ".join([*result.binding_areas, *result.binding_groups]) or "none"
        say(f"price of fairness: {pof['weight']:.6g} covered weight ({pof['share']:.3%} of all "
                   f"demand, {pof['relative']:.3%} of the unconstrained optimum); "
                   f"binding: {binding}")  # fmt: skip
    _print_sites(result)


def _print_sites(result: Any) -> None:
    from geo.text import pad

    for rec in result.selected.itertuples(index=False):
        say(
            f"{rec.order:>3}  {pad(rec.candidate_id, 28)} {pad(rec.host_type, 20)} {rec.name}  "
            f"+{rec.gain:.4g} -> {rec.cumulative_share:.3f}"
        )


#: the request's options, shared by ``site`` (module-level so the command stays short)
ADD_OPT = typer.Option(None, "--add", help="add this many stations (maximal covering)")
TARGET_SHARE_OPT = typer.Option(
    None, "--target-share", help="fewest stations to reach this covered share (set covering)"
)
BUDGET_OPT = typer.Option(None, "--budget", help="total budget over the candidates' cost")
MIN_SHARE_AREA_OPT = typer.Option(
    None, "--min-share-per-area",
    help="fairness: every area (--areas) ends with at least this covered share of its demand (0-1)",
)  # fmt: skip
MAX_P95_AREA_OPT = typer.Option(
    None, "--max-p95-per-area",
    help="fairness: every area's p95 travel time at most these minutes (95 % of its weight within them; "
    "unreachable demand counts as out of reach, so this p95 is over all the area's weight, where "
    "yizhan coverage's p95 is over the reached points)",
)  # fmt: skip
MIN_SHARE_GROUP_OPT = typer.Option(
    None, "--min-share-per-group", help="fairness: every worker group ends with at least this covered share"
)
CAPACITY_OPT = typer.Option(
    None, "--capacity-per-site",
    help="capacitated MCLP: capacity of every new site in demand-weight units (a candidates' "
    "capacity column wins); existing stations keep theirs (geo.capacity.station_capacity)",
)  # fmt: skip
OUT_OPT = typer.Option(
    None, "--out", help="directory for proposals.geojson, proposals.csv, proposals.xlsx (and areas.csv)"
)


def _check_request(add: int | None, target_share: float | None, budget: float | None,
                   fair: dict[str, float | None], areas: Path | None, min_per_area: int) -> None:  # fmt: skip
    """The CLI's own checks (flag names in the messages); the rest is checked by plan_sites."""
    given = [n for n, v in (("--add", add), ("--target-share", target_share), ("--budget", budget)) if v]
    if sum(v is not None for v in (add, target_share, budget)) != 1:
        got = ", ".join(given) or "none"
        raise fail(f"give exactly one of --add, --target-share or --budget (got {got})")
    if min_per_area and areas is None:
        raise fail("--min-per-area needs --areas")
    for flag, value in fair.items():
        if value is not None and flag == "--max-p95-per-area":
            check_minutes(value, field=flag)
        elif value is not None:
            check_share(value, field=flag)
    per_area = [f for f in ("--min-share-per-area", "--max-p95-per-area") if fair[f] is not None]
    if per_area and areas is None:
        raise fail(f"{per_area[0]} needs --areas")


def _write(result: Any, out: Path, *, crs: str, mode: str) -> list[Path]:
    """Write the proposals (GeoJSON in WGS-84; CSV and XLSX in ``crs``, each with Amap links) and, with
    areas, the per-area table; returns the paths."""
    paths = [result.to_geojson(out / "proposals.geojson", mode=mode),
             result.to_csv(out / "proposals.csv", crs=crs, mode=mode),
             result.to_excel(out / "proposals.xlsx", crs=crs, mode=mode)]  # fmt: skip
    if len(result.per_area):
        paths.append(result.areas_to_csv(out / "areas.csv"))
    return paths


def _capacitated(net: Any, stations: Any, demand: Any, candidates: Any, areas: Any, *, add: int | None,
                 others: dict[str, Any], minutes: float, capacity_per_site: float, time_limit: float,
                 snap_meters: float, open_only: bool, out: Path | None, crs: str, as_json: bool) -> None:
    """``--capacity-per-site N``: the capacitated MCLP (:mod:`geo.siting.capacitated`), printed and
    written like plain siting plus each station's and site's load (facilities.csv)."""
    from geo.checks import check_non_negative
    from geo.siting.capacitated import plan_capacitated
    from geo.text import write_csv

    capacity = check_non_negative(capacity_per_site, field="--capacity-per-site")
    given = [flag for flag, value in others.items() if value]
    if add is None or given:
        raise fail("--capacity-per-site works with --add only (maximal covering within capacity)"
                   + (f"; drop {', '.join(given)}" if given else ""))
    res = plan_capacitated(net, stations, demand, candidates, add=add, minutes=minutes,
                           capacity_per_site=capacity, areas=areas, time_limit_seconds=time_limit,
                           snap_meters=snap_meters, open_only=open_only)
    written: list[Path] = []
    if out is not None:
        written = [*_write(res.siting, out, crs=crs, mode=net.mode),
                   write_csv(res.facilities, out / "facilities.csv", field="--out")]
    if as_json:
        print_json({**res.as_dict(), "outputs": [str(p) for p in written]})
        return
    s, r = res.summary, res.siting
    say(f"capacitated_mclp/exact: {r.status}; served {s['served_before']:.6g} -> "
               f"{s['served_after']:.6g} of {s['total_weight']:.6g} (share {r.share_before:.3f} -> "
               f"{r.share_after:.3f}); within reach but over capacity {s['over_capacity']:.6g}; "
               f"bound {r.bound:.6g}, gap {r.gap:.3g}")
    _print_sites(r)
    if written:
        say(f"wrote {', '.join(map(str, written))}")


def _report(result: Any, out: Path | None, *, crs: str, mode: str, as_json: bool) -> None:
    written = _write(result, out, crs=crs, mode=mode) if out is not None else []
    if as_json:
        print_json(result.as_dict())
        return
    _print_table(result)
    if written:
        say("wrote " + ", ".join(str(p) for p in written))


def register(app: typer.Typer) -> None:
    """Add this module's command(s) to the main ``yizhan`` app."""
    app.command("site")(domain_errors(site))


def site(
    network: Path = typer.Option(..., "--network", help="street network: .osm, .graphml or yizhan .npz"),
    stations: str = typer.Option(
        "none", "--stations", help="existing stations: a station file, 'db' (the registry) or 'none'"
    ),
    demand: str = typer.Option(..., "--demand", help="demand: a points file or pois:FILE"),
    candidates: str | None = typer.Option(None, "--candidates", help=CANDIDATES_HELP),
    areas: Path | None = AREAS_OPT,
    areas_level: str = AREAS_LEVEL_OPT,
    areas_code_field: str | None = AREAS_CODE_FIELD_OPT,
    areas_name_field: str | None = AREAS_NAME_FIELD_OPT,
    mode: str = typer.Option("walk", "--mode", help="travel mode (data/modes.toml): walk, ebike, ..."),
    minutes: float = typer.Option(15.0, "--minutes", help="travel-time threshold"),
    add: int | None = ADD_OPT,
    target_share: float | None = TARGET_SHARE_OPT,
    budget: float | None = BUDGET_OPT,
    min_per_area: int = typer.Option(0, "--min-per-area", help="stations every area must end with"),
    min_share_per_area: float | None = MIN_SHARE_AREA_OPT,
    max_p95_per_area: float | None = MAX_P95_AREA_OPT,
    min_share_per_group: float | None = MIN_SHARE_GROUP_OPT,
    method: str = typer.Option("exact", "--method", help="exact (HiGHS) or greedy"),
    time_limit: float = typer.Option(60.0, "--time-limit", help="solver time limit, seconds"),
    snap_meters: float = typer.Option(300.0, "--snap-meters", help="snap limit, metres"),
    all_statuses: bool = typer.Option(False, "--all-statuses", help="count planned stations fixed too"),
    capacity_per_site: float | None = CAPACITY_OPT,
    crs: str = typer.Option(
        "wgs84", "--crs", help="coordinates of proposals.csv/.xlsx: wgs84, gcj02 (Amap) or bd09"),
    out: Path | None = OUT_OPT,
    as_json: bool = typer.Option(False, "--json", help="print the result as JSON"),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="log progress"),
) -> None:
    """Propose where the next stations should go, in build order (phase 1, 2, 3 ...)."""
    from geo.checks import check_crs, check_mode
    from geo.network import load_network
    from geo.siting import plan_sites

    setup_logging(verbose)
    fair = {"--min-share-per-area": min_share_per_area, "--max-p95-per-area": max_p95_per_area,
            "--min-share-per-group": min_share_per_group}  # fmt: skip
    _check_request(add, target_share, budget, fair, areas, min_per_area)
    crs = check_crs(crs, field="--crs")
    net = load_network(network, mode=check_mode(mode, field="--mode"))
    demand_frame, _ = load_demand(
        [demand], street_network=lambda: net, crs="wgs84", group=None, weight_field=None, clip=None
    )
    area_frame = None if areas is None else load_areas(
        areas, level=areas_level, code_field=areas_code_field, name_field=areas_name_field)
    station_frame = load_stations(stations, crs=None)
    cand_frame = load_candidates(candidates, demand_spec=demand, network=net)
    if capacity_per_site is not None:
        others = {"--target-share": target_share is not None, "--budget": budget is not None,
                  "--min-per-area": bool(min_per_area), "--method greedy": method != "exact",
                  **{flag: value is not None for flag, value in fair.items()}}
        return _capacitated(
            net, station_frame, demand_frame, cand_frame, area_frame, add=add, others=others,
            minutes=minutes, capacity_per_site=capacity_per_site, time_limit=time_limit,
            snap_meters=snap_meters, open_only=not all_statuses, out=out, crs=crs, as_json=as_json)
    result = plan_sites(
        net, station_frame, demand_frame, cand_frame, minutes=minutes, add=add,
        target_share=target_share, budget=budget, min_per_area=min_per_area, areas=area_frame,
        method=method, time_limit_seconds=time_limit, snap_meters=snap_meters,
        open_only=not all_statuses, min_share_per_area=min_share_per_area,
        max_p95_per_area_minutes=max_p95_per_area, min_share_per_group=min_share_per_group,
    )  # fmt: skip
    _report(result, out, crs=crs, mode=net.mode, as_json=as_json)
