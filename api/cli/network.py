"""``yizhan network``: build a compact travel network file and describe one.

``yizhan network build --osm FILE --mode MODE [--clip FILE|bbox] [--speed-kph X] --out FILE``
``yizhan network build --osm FILE.osm.pbf --area AREAS.geojson [--area-code C] --halo-minutes M``
``yizhan network build-areas --osm FILE.osm.pbf --areas AREAS.geojson --code-field adcode --modes walk,ebike
--halo-minutes 60 --out DIR``
``yizhan network info FILE``
"""

from __future__ import annotations

import time
from pathlib import Path

import typer

from api.cli._common import domain_errors, mode_help, print_json, setup_logging
from geo.catalog import mode_codes

app = typer.Typer(
    help="Street networks: build the compact .npz a coverage run loads fast, or describe one.",
    no_args_is_help=True,
)


IGNORE_ONEWAY_OPT = typer.Option(
    False, "--ignore-oneway", help="ride one-way streets both ways (for modes that respect them)"
)


@app.command("build")
@domain_errors
def build(
    osm: Path = typer.Option(
        ..., "--osm", help="OSM PBF or XML (.osm.pbf, .osm, .osm.bz2, .osm.gz) or osmnx GraphML file"
    ),
    out: Path = typer.Option(..., "--out", help="where to write the compact network (.npz)"),
    mode: str = typer.Option("walk", "--mode", help=mode_help()),
    clip: str | None = typer.Option(
        None, "--clip", help="minx,miny,maxx,maxy in WGS-84 degrees, or a polygon file (GeoJSON/GPKG/SHP)"
    ),
    area: Path | None = typer.Option(None, "--area", help="area polygon file (GeoJSON/GPKG/SHP)"),
    area_code: str | None = typer.Option(None, "--area-code", help="code of the area in --area"),
    code_field: str = typer.Option("adcode", "--code-field", help="field of --area holding the codes"),
    halo_minutes: float = typer.Option(
        0.0, "--halo-minutes", help="with --area: keep streets this many minutes of travel beyond it"
    ),
    speed_kph: float | None = typer.Option(None, "--speed-kph", help="speed stored with the network"),
    two_way: bool = IGNORE_ONEWAY_OPT,
    progress: bool = typer.Option(False, "--progress", help="progress bar per pass over the file"),
    store_search: bool = typer.Option(
        True,
        "--store-search/--no-store-search",
        help="store the search structures (reverse CSR, contracted junction graph) and the snapping index, "
        "so later commands map them instead of building them (larger file)",
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Build the network of one travel mode from a street file and write it as a compact .npz."""
    from geo.checks import check_mode, check_non_negative, check_positive, check_suffix
    from geo.network import load_network, parse_clip, save_network

    setup_logging(verbose)
    check_suffix(out, (".npz",), field="--out")
    mode = check_mode(mode, field="--mode")
    check_non_negative(halo_minutes, field="--halo-minutes")
    if speed_kph is not None:
        check_positive(speed_kph, field="--speed-kph")
    geom = parse_clip(clip) if clip else None
    oneway = False if two_way else None
    t0 = time.perf_counter()
    if area is not None:
        from geo.osm.build import network_from_osm
        from geo.osm.halo import pick_area, read_area_polygons

        areas = read_area_polygons(area, code_field=code_field if area_code is not None else None)
        picked = pick_area(areas, area_code, path=area)
        net = network_from_osm(
            osm, mode=mode, speed_kph=speed_kph, clip=geom, oneway=oneway, area=picked,
            halo_minutes=halo_minutes, progress=progress,
        )  # fmt: skip
    else:
        net = load_network(osm, mode=mode, speed_kph=speed_kph, clip=geom, oneway=oneway, cache=False)
    built = time.perf_counter() - t0
    save_network(net, out, derived=store_search)
    info = net.info()
    info.update({"out": str(out), "bytes": out.stat().st_size, "build_seconds": round(built, 3)})
    print_json(info)


@app.command("build-areas")
@domain_errors
def build_areas(
    osm: Path = typer.Option(..., "--osm", help="OSM file (.osm.pbf, .osm, .osm.bz2, .osm.gz)"),
    areas: Path = typer.Option(..., "--areas", help="area polygons (GeoJSON/GPKG/SHP) with a code field"),
    out: Path = typer.Option(..., "--out", help="output folder: <code>/<mode>.npz and manifest.json"),
    code_field: str = typer.Option("adcode", "--code-field", help="field of --areas holding the codes"),
    modes: str = typer.Option(",".join(mode_codes()), "--modes", help=mode_help("comma-separated modes")),
    halo_minutes: float = typer.Option(60.0, "--halo-minutes", help="travel-time halo around each area"),
    two_way: bool = IGNORE_ONEWAY_OPT,
    progress: bool = typer.Option(True, "--progress/--no-progress", help="progress bars on stderr"),
    store_search: bool = typer.Option(
        False,
        "--store-search/--no-store-search",
        help="store each network's search structures and snapping index with it (larger files, faster "
        "later commands)",
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Build a network per area and mode from one OSM file (one pass for all areas)."""
    from geo.checks import check_mode, check_non_negative
    from geo.osm.regions import build_areas as run

    setup_logging(verbose)
    mode_list = [check_mode(m.strip(), field="--modes") for m in modes.split(",") if m.strip()]
    check_non_negative(halo_minutes, field="--halo-minutes")
    t0 = time.perf_counter()
    result = run(
        osm, areas, out=out, code_field=code_field, modes=mode_list,
        halo_minutes=halo_minutes, oneway=False if two_way else None, progress=progress,
        store_search=store_search,
    )  # fmt: skip
    print_json(
        {
            "out": str(result.out),
            "manifest": str(result.out / "manifest.json"),
            "networks": len(result.entries),
            "built": result.built,
            "reused": result.reused,
            "seconds": round(time.perf_counter() - t0, 3),
            "stage_seconds": result.seconds,
        }
    )


@app.command("info")
@domain_errors
def info(
    file: Path = typer.Argument(
        ..., help="a .npz from `yizhan network build` (or a street file, built on the fly)"
    ),
    mode: str | None = typer.Option(None, "--mode", help="mode when FILE is a street file"),
) -> None:
    """Describe a network: mode, speed, nodes, arcs, components, bounding box, source hash."""
    from geo.network import load_network

    net = load_network(file, mode=mode, cache=False)
    print_json(net.info())
