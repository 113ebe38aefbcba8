"""Write the analysts' notebooks (``01_coverage_baseline.ipynb``, ``02_siting_study.ipynb``) with nbformat.

The notebooks are generated so they stay reproducible and reviewable as plain Python: edit the cell
sources here, then run ``.venv/bin/python notebooks/_build.py``. The ``.ipynb`` files are written without
outputs (that is how they are committed); ``tests/test_notebooks.py`` executes them.

Both notebooks start with a parameters cell tagged ``parameters`` (papermill convention) and end with a
cell printing one ``YIZHAN_HEADLINE {json}`` line with the headline numbers, which the test parses.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent
HEADLINE_PREFIX = "YIZHAN_HEADLINE "

KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}

# ---------------------------------------------------------------------------------------- shared cells
PARAMS_COMMON = '''\
from geo.config import data_dir

# Any city: point these at your own files (relative to DATA_DIR, or absolute). The defaults are the
# bundled sample (see SOURCES.md in the data directory).
PLACE = "Shenzhen Nanshan core (bundled sample)"  # name of the study area, used in titles
DATA_DIR = data_dir()  # env YIZHAN_DATA_DIR, default ../shared/data/raw
NETWORK_FILE = "shenzhen_roadnetworkcreator/shenzhen_nanshan_osm.osm"  # .osm, .graphml or a yizhan .npz
POI_FILE = "shenzhen_roadnetworkcreator/shenzhen_nanshan_osm_pois.geojson"  # amenity/shop POIs, or None
STATIONS_FILE = None  # your station list (CSV/XLSX/GeoJSON); None: POIs of STATIONS_FROM_POIS stand in
STATIONS_CRS = "wgs84"  # wgs84, gcj02 (Amap) or bd09 (Baidu): coordinates of STATIONS_FILE
STATIONS_FROM_POIS = "bank"  # amenity whose POIs stand in for today's stations without STATIONS_FILE
DEMAND_FILE = None  # demand points (CSV lon/lat[/weight/group] or GeoJSON); None: POIs + street length
AREAS_FILE = None  # boundaries (GeoJSON/GPKG/SHP); None: the network file's OSM admin boundaries, if any
ADMIN_LEVEL = 8  # OSM admin_level of those boundaries (8 = 乡镇/街道); none found: one whole-area row
CLIP = (113.92, 22.535, 113.97, 22.56)  # (min lon, min lat, max lon, max lat) WGS-84, or None
MINUTES = 15  # the 15-minute service circle
STREET_DEMAND_SPACING_M = 100.0  # street-length demand: one point every 100 m, 1 weight per km
'''

SETUP = '''\
import json
import logging
import sys
from pathlib import Path

import geopandas as gpd
import pandas as pd
from IPython.display import display

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", force=True)
log = logging.getLogger("notebook")
pd.set_option("display.width", 160)
pd.set_option("display.max_columns", 30)
pd.set_option("display.float_format", "{:,.3f}".format)

DATA_DIR = Path(DATA_DIR)
network_path = DATA_DIR / NETWORK_FILE
poi_path = DATA_DIR / POI_FILE if POI_FILE else None
for path in (network_path, poi_path, *(DATA_DIR / f for f in (STATIONS_FILE, DEMAND_FILE, AREAS_FILE) if f)):
    if path is not None and not path.is_file():
        raise FileNotFoundError(f"{path} is missing: point DATA_DIR and the *_FILE parameters at your files")
if STATIONS_FILE is None and poi_path is None:
    raise ValueError("give STATIONS_FILE (your station list) or a POI_FILE whose POIs stand in for stations")
log.info("%s: data %s, clip %s, threshold %s min", PLACE, DATA_DIR, CLIP, MINUTES)
'''

STATIONS_MD = '''\
## Today's stations

`STATIONS_FILE` is read like an imported station list (`geo.stations.read_station_file`: Chinese or
English headers, GCJ-02/BD-09 converted). Without one, the POIs with `amenity = STATIONS_FROM_POIS` stand
in for today's stations (by default the bank branches, standing in for the bank-hosted 劳动者港湾), through
the same validation (`geo.stations.report_from_frame`).
'''

STATIONS = '''\
from shapely.geometry import box

from geo.stations import read_station_file, report_from_frame

pois = None
if poi_path is not None:
    pois = gpd.read_file(poi_path)
    if CLIP is not None:
        pois = pois[pois.geometry.within(box(*CLIP))].reset_index(drop=True)
if STATIONS_FILE is not None:
    report = read_station_file(DATA_DIR / STATIONS_FILE, crs=STATIONS_CRS)
else:
    hosts = pois[pois["amenity"] == STATIONS_FROM_POIS]
    host_names = hosts["name"]
    if "name:zh" in hosts.columns:
        host_names = host_names.fillna(hosts["name:zh"])
    host_names = host_names.fillna(STATIONS_FROM_POIS)
    raw_stations = gpd.GeoDataFrame(
        {
            "external_id": ("osm-" + hosts["osm_type"] + "-" + hosts["osm_id"].astype(str)).to_numpy(),
            "name": [f"劳动者港湾·{n}" for n in host_names],
            "kind": "outdoor_worker_station",
            "status": "open",
            "host_org": host_names.to_numpy(),
        },
        geometry=hosts.geometry.to_numpy(),
        crs="EPSG:4326",
    )
    report = report_from_frame(raw_stations, source=f"{POI_FILE} (amenity={STATIONS_FROM_POIS})")
if not report.ok:
    raise ValueError(f"station rows rejected: {[e.to_dict() for e in report.errors]}")
stations = report.frame
if stations.empty:
    raise ValueError("no stations: give STATIONS_FILE or a POI_FILE with STATIONS_FROM_POIS POIs")
log.info("%d stations (%s)", len(stations), STATIONS_FILE or f"amenity={STATIONS_FROM_POIS} POIs")
display(stations[["station_id", "name", "kind", "status", "host_org", "geometry"]])
'''

DEMAND_MD = '''\
## Demand

`DEMAND_FILE` when given (points with an optional weight and worker group); otherwise two layers,
combined: the POIs turned into worker demand by `data/demand_rules.toml` (restaurants → delivery riders,
shops → couriers, …) when there is a POI file, and street length along the walk network (the
sanitation-beat proxy, one weight per km of street).
'''

DEMAND = '''\
from geo.demand import combine_demand, demand_from_network, demand_from_points, demand_from_pois


def read_demand(walk_network):
    if DEMAND_FILE is not None:
        return demand_from_points(DATA_DIR / DEMAND_FILE)
    parts = [] if pois is None else [demand_from_pois(pois)]
    parts.append(demand_from_network(walk_network, meters_per_point=STREET_DEMAND_SPACING_M))
    return combine_demand(*parts) if len(parts) > 1 else parts[0]
'''

AREAS = '''\
from geo.areas import areas_from_osm, read_areas
from geo.report import whole_area


def read_study_areas(demand, stations):
    # boundaries of AREAS_FILE, else the OSM admin boundaries of the network file, else one whole area
    if AREAS_FILE is not None:
        found = read_areas(DATA_DIR / AREAS_FILE, level="township")
    elif network_path.suffix.lower() == ".osm":
        found = areas_from_osm(network_path, admin_level=ADMIN_LEVEL, clip_bbox=CLIP)
    else:
        found = None
    if found is None or found.empty:
        log.info("no boundaries: one whole-area row named %r", PLACE)
        return whole_area(PLACE, [demand.geometry, stations.geometry])
    return found
'''

# ---------------------------------------------------------------------------------------- notebook 01
NB1_TITLE = '''\
# 01 · Coverage baseline — 15-minute service circle (`PLACE`)

How much of the outdoor workers' demand reaches a station within **`MINUTES` minutes**, on foot and by
e-bike, over the street network of `NETWORK_FILE` (clipped to `CLIP`); where the coverage is missing; and
the planner's map. Every input is a parameter of the first cell: run it on any city.

Travel time is the project definition (`docs/ARCHITECTURE.md`): straight line to the nearest usable
street node + shortest network path + straight line to the station, at the mode's speed
(`data/modes.toml`). Data: `SOURCES.md` in the data directory (OSM, ODbL 1.0).
'''

NB1_PARAMS = PARAMS_COMMON + '''\
MODES = ("walk", "ebike")
GAP_MODE = "walk"  # mode whose gaps are ranked and drawn
GAP_RESOLUTION = 9  # H3 resolution of the gap hexagons (≈ 0.1 km²)
TOP_GAPS = 10
MAP_TILES = "osm"  # "osm", "amap" or "none"
MAP_ASSETS = "inline"  # scripts and styles inlined: the map renders without a server or CDN
'''

NB1_NETWORKS = '''\
from geo.network import load_network

clip = CLIP if network_path.suffix.lower() != ".npz" else None  # a .npz is clipped when built
networks = {mode: load_network(network_path, mode=mode, clip=clip) for mode in MODES}
info = pd.DataFrame([{k: v for k, v in net.info().items() if k in (
    "mode", "speed_kph", "nodes", "arcs", "total_arc_km", "components", "largest_component_nodes"
)} for net in networks.values()])
display(info)
'''

NB1_DEMAND = DEMAND + '''
walk = networks["walk"] if "walk" in networks else load_network(network_path, mode="walk", clip=clip)
demand = read_demand(walk)
display(demand.groupby(["layer", "group"])["weight"].agg(points="count", weight="sum").reset_index())
'''

NB1_AREAS = AREAS + '''
# 乡镇/街道 (admin_level ADMIN_LEVEL). An extract cut by a box holds only part of each boundary: the
# polygons are assembled from the boundary ways present plus the clip outline (complete == False).
areas = read_study_areas(demand, stations)
display(areas.drop(columns="geometry"))
'''

NB1_COVERAGE_MD = '''\
## Coverage by mode

A demand point is covered when its nearest open station is at most `MINUTES` away. Unreachable points
(no station within the 60-minute horizon, e.g. on a street piece cut off by the clip) count as uncovered.
'''

NB1_COVERAGE = '''\
from geo.coverage import compute_coverage

results = {
    mode: compute_coverage(networks[mode], stations, demand, minutes=MINUTES, areas=areas) for mode in MODES
}
summary = pd.json_normalize([results[mode].summary.as_dict() for mode in MODES])
display(summary)
'''

NB1_BY_AREA = '''\
first_table = results[MODES[0]].by_area
by_area = first_table[["area_code", "area_name", "stations", "demand_count", "demand_total"]].copy()
for mode in MODES:
    table = results[mode].by_area.set_index("area_code")
    by_area[f"{mode}_share"] = by_area["area_code"].map(table["covered_share"])
    by_area[f"{mode}_median_min"] = by_area["area_code"].map(table["median_minutes"])
display(by_area)
display(results[GAP_MODE].by_group)
'''

NB1_GAPS_MD = '''\
## Where coverage is missing

Uncovered demand of the `GAP_MODE` run aggregated to H3 hexagons, biggest first, with the nearest station
and how far it is.
'''

NB1_GAPS = '''\
from geo.gaps import find_gaps, top_gaps

gaps = find_gaps(results[GAP_MODE], resolution=GAP_RESOLUTION, stations=stations)
top = top_gaps(gaps, TOP_GAPS)
display(top.drop(columns="geometry"))
'''

NB1_MAP_MD = '''\
## Planner's map

街道 coloured by covered share, the covered area per mode (street pieces within reach, buffered 30 m —
not circles), gap hexagons and the stations. Scripts are inlined, so the map works offline (the basemap
tiles still need the tile server; set `MAP_TILES = "none"` for none).
'''

NB1_MAP = '''\
from geo.coverage import covered_area
from maps.coverage import coverage_map

covered = {mode: covered_area(results[mode]) for mode in MODES}
display(pd.DataFrame([{"mode": m, "area_km2": float(c["area_km2"].iloc[0])} for m, c in covered.items()]))
planner_map = coverage_map(
    results[GAP_MODE].stations,
    covered=covered,
    gaps=gaps,
    areas=areas,
    by_area=results[GAP_MODE].by_area,
    headline=results[GAP_MODE].summary.as_dict(),
    minutes=MINUTES,
    tiles=MAP_TILES,
    assets=MAP_ASSETS,
)
planner_map
'''

NB1_HEADLINE = '''\
# Headline numbers, one JSON line (read by tests/test_notebooks.py)
headline = {
    "notebook": "01_coverage_baseline",
    "python": sys.executable,
    "prefix": sys.prefix,
    "minutes": float(MINUTES),
    "place": PLACE,
    "clip": list(CLIP) if CLIP else None,
    "pois": 0 if pois is None else len(pois),
    "stations": len(stations),
    "demand_points": len(demand),
    "demand_by_layer": {k: float(v) for k, v in demand.groupby("layer")["weight"].sum().items()},
    "modes": {mode: results[mode].summary.as_dict() for mode in MODES},
    "areas": [
        {"area_code": str(r.area_code), "area_name": str(r.area_name), "stations": int(r.stations),
         "demand_total": float(r.demand_total), "demand_covered": float(r.demand_covered)}
        for r in results[GAP_MODE].by_area.itertuples()
    ],
    "gaps": {
        "mode": GAP_MODE,
        "hexagons": len(gaps),
        "uncovered_weight": float(gaps["uncovered_weight"].sum()),
        "top": [{"rank": int(r.rank), "h3": r.h3, "uncovered_weight": float(r.uncovered_weight)}
                for r in top.itertuples()],
    },
    "covered_km2": {mode: float(c["area_km2"].iloc[0]) for mode, c in covered.items()},
    "map_html_chars": len(planner_map.get_root().render()),
}
print("YIZHAN_HEADLINE " + json.dumps(headline, ensure_ascii=False))
'''

# ---------------------------------------------------------------------------------------- notebook 02
NB2_TITLE = '''\
# 02 · Siting study — where the next stations should go (`PLACE`)

Maximal covering: add *p* stations to today's (fixed) stations so that the most demand reaches a
station within `MINUTES`. Exact (HiGHS MIP) against the lazy greedy for p = 1…`P_MAX`; the coverage
curve; the phased build order (phase 1 = the site that adds the most, …); and how the answer moves with
the threshold (10/15/20 minutes).

Existing stations: `STATIONS_FILE`, or the POIs standing in for them (see notebook 01).
Candidates: the host POIs of the POI file (`data/host_rules.toml`: toilets, fuel stations, convenience
stores, post office, government offices) minus those already used as stations;
`STREET_CANDIDATE_SPACING_M` adds street nodes as candidates too (a larger, harder instance), and they are
the only candidates when there is no POI file.
'''

NB2_PARAMS = PARAMS_COMMON + '''\
MODE = "walk"
P_MAX = 10  # compare exact and greedy for p = 1 … P_MAX
PHASE_P = 10  # phased build order for this p (exact)
SENSITIVITY_MINUTES = (10, 15, 20)
SENSITIVITY_P = 5
TIME_LIMIT_SECONDS = 60.0  # HiGHS time limit per solve
STREET_CANDIDATE_SPACING_M = None  # e.g. 400.0 adds street nodes ~400 m apart (without POIs: 300 m)
'''

NB2_INPUTS = DEMAND + AREAS + '''
from geo.network import load_network
from geo.siting import candidates_from_network, candidates_from_pois

clip = CLIP if network_path.suffix.lower() != ".npz" else None  # a .npz is clipped when built
network = load_network(network_path, mode=MODE, clip=clip)
# same demand as notebook 01: street length along the walk network, whatever MODE is
walk = network if MODE == "walk" else load_network(network_path, mode="walk", clip=clip)
demand = read_demand(walk)
areas = read_study_areas(demand, stations)

candidates = None
if pois is not None:
    hosts = candidates_from_pois(pois)
    used = (hosts["host_type"] == STATIONS_FROM_POIS).to_numpy() if STATIONS_FILE is None else None
    if used is not None and int(used.sum()) != len(stations):
        raise ValueError(f"{int(used.sum())} {STATIONS_FROM_POIS} hosts but {len(stations)} stations")
    candidates = hosts if used is None else hosts[~used].reset_index(drop=True)
spacing = STREET_CANDIDATE_SPACING_M or (None if candidates is not None else 300.0)
if spacing:
    street = candidates_from_network(network, spacing_meters=spacing)
    candidates = street if candidates is None else gpd.GeoDataFrame(
        pd.concat([candidates, street], ignore_index=True), crs="EPSG:4326")
log.info("%d stations, %d candidates", len(stations), len(candidates))
display(candidates.groupby("host_type").size().rename("candidates").reset_index())
display(demand.groupby(["layer", "group"])["weight"].agg(points="count", weight="sum").reset_index())
'''

NB2_COMPARE_MD = '''\
## Exact (HiGHS) vs greedy, p = 1…P_MAX

`objective` is the newly covered demand weight, `share` the covered share of all demand with today's
stations plus the *p* new ones, `mip_gap` the solver's proven gap (0 = optimal), `greedy_bound` the
submodularity bound the greedy proves, and `greedy_shortfall` how much less the greedy covers than the
optimum.
'''

NB2_COMPARE = '''\
from geo.siting import plan_sites

runs = {}
rows = []
logging.getLogger("geo.siting").setLevel(logging.WARNING)  # one log line per solve is too much here
for p in range(1, P_MAX + 1):
    for method in ("exact", "greedy"):
        res = plan_sites(
            network, stations, demand, candidates, minutes=MINUTES, add=p, method=method, areas=areas,
            time_limit_seconds=TIME_LIMIT_SECONDS,
        )
        runs[(p, method)] = res
        rows.append({
            "p": p, "method": method, "status": res.status, "objective": res.objective, "bound": res.bound,
            "gap": res.gap, "share": res.share_after, "seconds": res.seconds,
        })
logging.getLogger("geo.siting").setLevel(logging.NOTSET)
runs_frame = pd.DataFrame(rows)
exact = runs_frame[runs_frame["method"] == "exact"].set_index("p")
greedy = runs_frame[runs_frame["method"] == "greedy"].set_index("p")
comparison = pd.DataFrame({
    "exact_objective": exact["objective"],
    "greedy_objective": greedy["objective"],
    "exact_share": exact["share"],
    "greedy_share": greedy["share"],
    "greedy_shortfall": 1 - greedy["objective"] / exact["objective"].where(exact["objective"] > 0),
    "mip_gap": exact["gap"],
    "greedy_bound": greedy["bound"],
    "exact_seconds": exact["seconds"],
    "greedy_seconds": greedy["seconds"],
    "exact_status": exact["status"],
})
first = runs[(1, "exact")]
log.info("share today %.3f; all %d candidates together would reach %.3f",
         first.share_before, len(candidates), first.reachable_share)
matches = int((comparison["greedy_objective"] >= comparison["exact_objective"] - 1e-9).sum())
log.info("greedy reaches the proven optimum for %d of %d values of p; largest shortfall %.2f %%",
         matches, len(comparison), 100 * comparison["greedy_shortfall"].max())
display(comparison)
'''

NB2_CURVE = '''\
import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(7, 4))
ps = [0, *exact.index]  # p = 0: today's stations only
ax.plot(ps, [first.share_before, *exact["share"]], "o-", label="exact (HiGHS)")
ax.plot(ps, [first.share_before, *greedy["share"]], "x--", label="greedy")
ax.axhline(first.share_before, color="grey", lw=0.8, ls=":", label="today's stations")
ax.axhline(first.reachable_share, color="black", lw=0.8, ls="-.", label="all candidates")
ax.set_xlabel("new stations p")
ax.set_ylabel(f"demand share within {MINUTES:g} min ({MODE})")
ax.set_xticks(ps)
ax.set_title(f"Coverage curve, {PLACE}")
ax.legend(loc="lower right")
ax.grid(alpha=0.3)
plt.show()
'''

NB2_PHASES_MD = '''\
## Phased build order (p = PHASE_P, exact)

The optimal set ordered greedily by marginal gain: phase 1 is the site that adds the most on its own,
phase 2 the one that adds the most next, and so on. A phase adding nothing means the candidates left
reach no demand that is still uncovered.
'''

NB2_PHASES = '''\
plan = runs[(PHASE_P, "exact")] if (PHASE_P, "exact") in runs else plan_sites(
    network, stations, demand, candidates, minutes=MINUTES, add=PHASE_P, method="exact", areas=areas,
    time_limit_seconds=TIME_LIMIT_SECONDS,
)
area_names = dict(zip(areas["area_code"].astype(str), areas["area_name"], strict=True))
phases = plan.selected.drop(columns="geometry").rename(columns={"order": "phase"})
phases["area_name"] = phases["area_code"].map(area_names)
columns = ["phase", "name", "host_type", "area_name", "gain", "gain_share", "cumulative_share", "lon", "lat"]
display(phases[columns])
display(plan.per_area)
'''

NB2_SENS_MD = '''\
## Sensitivity to the threshold (p = SENSITIVITY_P, exact)
'''

NB2_SENS = '''\
sens_rows = []
for minutes in SENSITIVITY_MINUTES:
    res = plan_sites(
        network, stations, demand, candidates, minutes=minutes, add=SENSITIVITY_P, method="exact",
        time_limit_seconds=TIME_LIMIT_SECONDS,
    )
    sens_rows.append({
        "minutes": float(minutes), "share_before": res.share_before, "share_after": res.share_after,
        "gain": res.share_after - res.share_before, "reachable_share": res.reachable_share,
        "status": res.status, "sites": ", ".join(res.selected["name"]),
    })
sensitivity = pd.DataFrame(sens_rows)
display(sensitivity)
'''

NB2_HEADLINE = '''\
# Headline numbers, one JSON line (read by tests/test_notebooks.py)
headline = {
    "notebook": "02_siting_study",
    "place": PLACE,
    "python": sys.executable,
    "prefix": sys.prefix,
    "mode": MODE,
    "minutes": float(MINUTES),
    "stations": len(stations),
    "candidates": len(candidates),
    "candidate_ids": candidates["candidate_id"].astype(str).tolist(),
    "demand_points": len(demand),
    "total_weight": first.total_weight,
    "share_before": first.share_before,
    "reachable_share": first.reachable_share,
    "runs": [{k: (None if isinstance(v, float) and v != v else v) for k, v in r.items()} for r in rows],
    "phases": [
        {"phase": int(r.phase), "candidate_id": str(r.candidate_id), "gain": float(r.gain),
         "cumulative_share": float(r.cumulative_share)}
        for r in phases.itertuples()
    ],
    "phase_share": plan.share_after,
    "sensitivity": [{k: v for k, v in r.items() if k != "sites"} for r in sens_rows],
}
print("YIZHAN_HEADLINE " + json.dumps(headline, ensure_ascii=False))
'''


def _notebook(cells: list[tuple[str, str]]) -> nbformat.NotebookNode:
    nb = new_notebook()
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata["language_info"] = {"name": "python"}
    for i, (kind, source) in enumerate(cells):
        cell = new_markdown_cell(source.rstrip()) if kind == "md" else new_code_cell(source.rstrip())
        cell["id"] = f"c{i:02d}"
        if kind == "params":
            cell.metadata["tags"] = ["parameters"]
        nb.cells.append(cell)
    nbformat.validate(nb)
    return nb


def coverage_baseline() -> nbformat.NotebookNode:
    """Notebook 01: coverage per mode, per area, gaps and the planner map."""
    return _notebook([
        ("params", NB1_PARAMS),
        ("md", NB1_TITLE),
        ("code", SETUP),
        ("code", NB1_NETWORKS),
        ("md", STATIONS_MD),
        ("code", STATIONS),
        ("md", DEMAND_MD),
        ("code", NB1_DEMAND),
        ("code", NB1_AREAS),
        ("md", NB1_COVERAGE_MD),
        ("code", NB1_COVERAGE),
        ("code", NB1_BY_AREA),
        ("md", NB1_GAPS_MD),
        ("code", NB1_GAPS),
        ("md", NB1_MAP_MD),
        ("code", NB1_MAP),
        ("code", NB1_HEADLINE),
    ])


def siting_study() -> nbformat.NotebookNode:
    """Notebook 02: exact vs greedy, coverage curve, phases, sensitivity."""
    return _notebook([
        ("params", NB2_PARAMS),
        ("md", NB2_TITLE),
        ("code", SETUP),
        ("md", STATIONS_MD),
        ("code", STATIONS),
        ("md", DEMAND_MD),
        ("code", NB2_INPUTS),
        ("md", NB2_COMPARE_MD),
        ("code", NB2_COMPARE),
        ("code", NB2_CURVE),
        ("md", NB2_PHASES_MD),
        ("code", NB2_PHASES),
        ("md", NB2_SENS_MD),
        ("code", NB2_SENS),
        ("code", NB2_HEADLINE),
    ])


NOTEBOOKS = {
    "01_coverage_baseline.ipynb": coverage_baseline,
    "02_siting_study.ipynb": siting_study,
}


def main(out_dir: Path = HERE) -> list[Path]:
    """Write both notebooks (no outputs) into ``out_dir`` and return their paths."""
    written = []
    for name, make in NOTEBOOKS.items():
        path = out_dir / name
        nbformat.write(make(), str(path))
        written.append(path)
    return written


if __name__ == "__main__":
    for p in main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE):
        print(p)
