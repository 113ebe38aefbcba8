"""``yizhan site`` on the real Shenzhen Nanshan data: JSON output, files written, stations from a file and
from the PostGIS registry, infeasible requests as one-line errors with exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from api.cli import app
from geo.demand import demand_from_pois
from geo.network import load_network
from geo.siting import candidates_from_pois, plan_sites
from geo.stations import read_station_file

SZ = "shenzhen_roadnetworkcreator"
KEYS = {
    "method",
    "status",
    "objective",
    "bound",
    "gap",
    "bound_source",
    "seconds",
    "stop_reason",
    "presolve",
    "covered_before",
    "covered_after",
    "share_before",
    "share_after",
    "selected",
    "per_area",
    "per_group",
    "fairness",
    "price_of_fairness",
    "binding_areas",
    "binding_groups",
}
SEL_KEYS = {"candidate_id", "name", "host_type", "lon", "lat", "gain", "cumulative_share", "order"}

runner = CliRunner()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from geo.config import data_dir

    raw = data_dir() / SZ
    pois = raw / "shenzhen_nanshan_osm_pois.geojson"
    hosts = candidates_from_pois(pois)
    banks = hosts[hosts["host_type"] == "bank"].iloc[::2]
    tmp = tmp_path_factory.mktemp("site")
    st = tmp / "stations.csv"
    pd.DataFrame(
        {
            "编号": [f"B{i}" for i in range(len(banks))],
            "名称": [f"{n}职工驿站" for n in banks["name"]],
            "经度": banks.geometry.x.round(7),
            "纬度": banks.geometry.y.round(7),
            "类型": "union_station",
            "状态": "open",
        }
    ).to_csv(st, index=False, encoding="utf-8-sig")
    return {"network": raw / "shenzhen_nanshan_osm.osm", "pois": pois, "stations": st}


def _args(files: dict[str, Path], *extra: str, stations: str | None = None) -> list[str]:
    return [
        "site",
        "--network",
        str(files["network"]),
        "--stations",
        stations or str(files["stations"]),
        "--demand",
        f"pois:{files['pois']}",
        "--candidates",
        "pois",
        "--mode",
        "walk",
        "--minutes",
        "10",
        *extra,
    ]


def test_site_json_matches_plan_sites_and_writes_files(files: dict[str, Path], tmp_path: Path) -> None:
    res = runner.invoke(app, _args(files, "--add", "3", "--json", "--out", str(tmp_path / "out")))
    assert res.exit_code == 0, res.output
    got = json.loads(res.stdout)
    assert set(got) == KEYS
    assert len(got["selected"]) == 3 and all(set(s) == SEL_KEYS for s in got["selected"])
    assert got["status"] == "optimal" and got["method"] == "exact"
    # the same request through the Python API gives the same answer
    net = load_network(files["network"], mode="walk")
    want = plan_sites(
        net,
        read_station_file(files["stations"]).frame,
        demand_from_pois(files["pois"]),
        candidates_from_pois(files["pois"]),
        minutes=10,
        add=3,
    )
    ref = json.loads(json.dumps(want.as_dict()))
    for d in (got, ref):
        d.pop("seconds")  # wall times differ run to run
    assert got == ref
    assert got["covered_before"] > 0 and got["share_after"] > got["share_before"]
    out = tmp_path / "out"
    gj = gpd.read_file(out / "proposals.geojson")
    assert gj["candidate_id"].tolist() == [s["candidate_id"] for s in got["selected"]]
    assert gj.crs.to_epsg() == 4326
    csv = pd.read_csv(out / "proposals.csv", encoding="utf-8-sig")
    assert csv["order"].tolist() == [1, 2, 3]
    sheets = pd.read_excel(out / "proposals.xlsx", sheet_name=None)
    assert {"proposals", "areas", "groups", "summary"} <= set(sheets)
    assert sheets["proposals"]["candidate_id"].tolist() == gj["candidate_id"].tolist()


def test_site_greedy_and_target_share(files: dict[str, Path]) -> None:
    res = runner.invoke(app, _args(files, "--add", "3", "--method", "greedy", "--json"))
    assert res.exit_code == 0, res.output
    greedy = json.loads(res.stdout)
    assert greedy["method"] == "greedy" and greedy["status"] == "heuristic"
    res = runner.invoke(app, _args(files, "--target-share", "0.8", "--json"))
    assert res.exit_code == 0, res.output
    sc = json.loads(res.stdout)
    assert sc["share_after"] >= 0.8
    res = runner.invoke(app, _args(files, "--budget", "2.5"))
    assert res.exit_code == 0, res.output
    assert res.stdout.startswith("budget/exact: optimal")


def test_site_errors(files: dict[str, Path]) -> None:
    res = runner.invoke(app, _args(files, "--target-share", "0.999"))
    assert res.exit_code == 1
    assert "error: target 0.999 is above the" in res.stderr and "candidates reach" in res.stderr
    res = runner.invoke(app, _args(files, "--add", "500"))
    assert res.exit_code == 1
    assert "cannot add 500 stations: only" in res.stderr
    res = runner.invoke(app, _args(files))
    assert res.exit_code == 2 and "exactly one of --add, --target-share or --budget" in res.stderr
    res = runner.invoke(app, _args(files, "--add", "2", "--method", "fancy"))
    assert res.exit_code == 2 and "unknown method 'fancy'" in res.stderr


def test_site_stations_from_db(files: dict[str, Path], clean_store: Engine) -> None:
    from geo.db.repository import import_stations

    with Session(clean_store) as session:
        import_stations(session, read_station_file(files["stations"]), source="test", actor="pytest")
    res_db = runner.invoke(app, _args(files, "--add", "2", "--json", stations="db"))
    assert res_db.exit_code == 0, res_db.output
    res_file = runner.invoke(app, _args(files, "--add", "2", "--json"))
    from_db, from_file = json.loads(res_db.stdout), json.loads(res_file.stdout)
    for d in (from_db, from_file):
        d.pop("seconds")
    assert from_db == from_file
    assert json.loads(res_db.stdout)["covered_before"] > 0


def test_site_per_township_minimum_on_osm_areas(files: dict[str, Path], tmp_path: Path) -> None:
    """Real 街道 polygons from the OSM extract: 西丽街道 has no host POI, so a minimum per township is
    infeasible with POI candidates and feasible with street-node candidates."""
    areas = ["--areas", str(files["network"]), "--min-per-area", "1"]
    res = runner.invoke(app, [*_args(files, "--add", "6", stations="none"), *areas])
    assert res.exit_code == 1
    assert (
        "per-area minimum cannot be met: 西丽街道 (440305006) needs 1 more station(s) but has only 0"
        in res.stderr
    )
    args = _args(files, "--add", "6", "--json", "--out", str(tmp_path), stations="none")
    args[args.index("pois")] = "network:500"
    res = runner.invoke(app, [*args, *areas])
    assert res.exit_code == 0, res.output
    assert len(json.loads(res.stdout)["selected"]) == 6
    per_area = pd.read_excel(tmp_path / "proposals.xlsx", sheet_name="areas")
    assert len(per_area) == 5
    assert ((per_area["stations_before"] + per_area["stations_added"]) >= 1).all()
    assert per_area["stations_added"].sum() == 6


def test_site_json_states_the_certificate(files: dict[str, Path]) -> None:
    """Exact: status, objective, proven bound, gap and where the bound comes from; greedy: a bound too."""
    for method in ("exact", "greedy"):
        res = runner.invoke(app, _args(files, "--add", "4", "--method", method, "--json"))
        assert res.exit_code == 0, res.output
        got = json.loads(res.stdout)
        assert got["bound"] >= got["objective"] - 1e-9
        gap = (got["bound"] - got["objective"]) / got["objective"]
        assert got["gap"] == pytest.approx(gap, abs=1e-9)
        assert got["bound_source"] in {"highs", "lp", "submodular", "components", "exhausted"}
        assert got["stop_reason"] is None and len(got["selected"]) == 4
    assert got["status"] == "heuristic" and got["method"] == "greedy"


@pytest.mark.parametrize(
    ("network", "mode", "minutes", "points"),
    [
        (  # Shanghai Jing'an/Huangpu OSM extract: four points around one block, walked
            "shanghai_le_degn/shanghai_jingan_huangpu_drive.osm",
            "walk",
            "10",
            [(121.4750, 31.2300), (121.4755, 31.2303), (121.4760, 31.2298), (121.4748, 31.2305)],
        ),
        (  # Xi'an gotrackit network (GraphML built from its shapefiles): three points at 小寨, e-bike
            "xian_gotrackit/xian_gotrackit_drive.graphml",
            "ebike",
            "5",
            [(108.9466, 34.2234), (108.9470, 34.2238), (108.9460, 34.2230)],
        ),
    ],
)
@pytest.mark.parametrize("method", ["exact", "greedy"])
def test_site_stops_when_no_site_adds_coverage(
    tmp_path: Path, network: str, mode: str, minutes: str, points: list[tuple[float, float]], method: str
) -> None:
    """One site covers all the demand: asked for 3, ``yizhan site`` proposes only the sites that gain, exits
    0 and says why (in the table and in --json)."""
    from geo.config import data_dir

    demand = tmp_path / "demand.csv"
    pd.DataFrame(
        {"lon": [p[0] for p in points], "lat": [p[1] for p in points], "weight": [1.0] * len(points)}
    ).to_csv(demand, index=False)
    net = str(data_dir() / network)
    args = ["site", "--network", net, "--demand", str(demand), "--candidates", "network:300",
            "--mode", mode, "--minutes", minutes, "--add", "3", "--method", method]  # fmt: skip
    res = runner.invoke(app, [*args, "--json"])
    assert res.exit_code == 0, res.output
    got = json.loads(res.stdout)
    assert got["share_after"] == pytest.approx(1.0)
    assert 1 <= len(got["selected"]) < 3
    assert all(s["gain"] > 0 for s in got["selected"])
    assert got["stop_reason"].startswith(f"only {len(got['selected'])} of the 3 sites asked for add coverage")
    if method == "exact":
        assert got["status"] == "optimal" and got["bound"] == pytest.approx(len(points))
    table = runner.invoke(app, args)
    assert table.exit_code == 0 and "stopped early: only" in table.stdout


def test_site_fairness_on_osm_townships(files: dict[str, Path], tmp_path: Path) -> None:
    """Real 街道 polygons from the OSM extract, street-node candidates: a share floor per 街道 and a p95
    ceiling; the price of fairness equals the unconstrained run's covered weight minus the fair one's."""
    areas = ["--areas", str(files["network"])]
    base = _args(files, "--add", "6", "--json", stations="none")
    base[base.index("pois")] = "network:500"
    free = runner.invoke(app, [*base, *areas])
    assert free.exit_code == 0, free.output
    unconstrained = json.loads(free.stdout)
    assert unconstrained["price_of_fairness"] is None and unconstrained["binding_areas"] == []
    for flag, value in (("--min-share-per-area", "0.5"), ("--max-p95-per-area", "15")):
        res = runner.invoke(app, [*base, *areas, flag, value, "--out", str(tmp_path / flag)])
        assert res.exit_code == 0, res.output
        got = json.loads(res.stdout)
        pof = got["price_of_fairness"]
        assert pof["weight"] == pytest.approx(unconstrained["covered_after"] - got["covered_after"])
        assert pof["weight"] > 0 and got["binding_areas"]
        assert pof["share"] == pytest.approx(pof["weight"] / (got["covered_after"] / got["share_after"]))
        rows = {r["area_code"]: r for r in got["per_area"]}
        assert {a for a, r in rows.items() if r["bound"]} == set(got["binding_areas"])
        if flag == "--min-share-per-area":
            assert all(r["share_after"] >= 0.5 - 1e-9 for r in rows.values())
        else:
            assert all(r["p95_after"] is not None and r["p95_after"] <= 15 + 1e-9 for r in rows.values())
        table = pd.read_csv(tmp_path / flag / "areas.csv", encoding="utf-8-sig", dtype={"area_code": str})
        assert table["bound"].tolist() == [rows[c]["bound"] for c in table["area_code"]]
    text = runner.invoke(app, [*base[:-1], *areas, "--min-share-per-area", "0.5"])
    assert text.exit_code == 0 and "price of fairness: " in text.stdout and "binding: 4403050" in text.stdout


@pytest.mark.parametrize(
    ("extra", "code", "words"),
    [
        (["--min-share-per-area", "1.5"], 2, "--min-share-per-area must be a share between 0 and 1, got 1.5"),
        (["--max-p95-per-area", "-3"], 2, "--max-p95-per-area must be a number of minutes in (0, 120]"),
        (["--min-share-per-area", "0.3", "--no-areas"], 2, "--min-share-per-area needs --areas"),
        (["--min-share-per-group", "0.5", "--method", "greedy"], 2, "needs the exact method"),
        (["--min-share-per-area", "0.9"], 1, "min_share_per_area cannot be met within 6 stations to add: "
                                             "together 南头街道 (440305002)"),
    ],
)
def test_site_fairness_errors(files: dict[str, Path], extra: list[str], code: int, words: str) -> None:
    args = _args(files, "--add", "6", stations="none")
    args[args.index("pois")] = "network:500"
    areas = [] if "--no-areas" in extra else ["--areas", str(files["network"])]
    res = runner.invoke(app, [*args, *areas, *[e for e in extra if e != "--no-areas"]])
    assert res.exit_code == code, res.output
    assert words in res.stderr and len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.output
