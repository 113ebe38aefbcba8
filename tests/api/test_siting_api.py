"""POST /siting: scenarios through the API equal plan_sites run directly; validation of the scenario."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from geo.db import repository
from geo.demand import combine_demand, demand_from_network, demand_from_pois
from geo.siting import plan_sites
from geo.siting.candidates import candidates_from_pois
from tests.api._support import SHENZHEN_UNIVERSITY

AddStation = Callable[..., dict[str, Any]]


def test_add_sites_equals_plan_sites(
    client: TestClient, add_station: AddStation, api_app: Any, db_session: Session
) -> None:
    add_station("深大工会驿站", *SHENZHEN_UNIVERSITY)
    r = client.post("/siting", json={"mode": "walk", "minutes": 10, "add": 3, "method": "exact"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["method"] == "exact" and body["status"] == "optimal"
    assert len(body["selected"]) == 3
    assert body["share_after"] > body["share_before"] > 0
    # the certificate: a proven bound at least the objective, its source, the presolve counts
    assert body["bound"] >= body["objective"] - 1e-9 and body["gap"] == pytest.approx(0, abs=1e-6)
    assert body["bound_source"] in {"highs", "lp", "submodular", "components", "exhausted"}
    assert body["stop_reason"] is None and body["presolve"]["candidates"] > 0

    app = api_app[0]
    net = app.state.networks["walk"]
    pois = app.state.settings.demand_pois
    demand = combine_demand(demand_from_pois(pois), demand_from_network(net))
    ref = plan_sites(
        net,
        repository.stations_frame(db_session),
        demand,
        candidates_from_pois(pois),
        minutes=10,
        add=3,
        method="exact",
    ).as_dict()
    assert body["objective"] == pytest.approx(ref["objective"])
    assert {s["candidate_id"] for s in body["selected"]} == {s["candidate_id"] for s in ref["selected"]}

    greedy = client.post("/siting", json={"minutes": 10, "add": 3, "method": "greedy"}).json()
    assert greedy["objective"] <= body["objective"] + 1e-9


def test_target_share_and_budget(client: TestClient) -> None:
    r = client.post("/siting", json={"minutes": 15, "target_share": 0.3, "time_limit_seconds": 20})
    assert r.status_code == 200, r.text
    assert r.json()["share_after"] >= 0.3 - 1e-9
    r = client.post("/siting", json={"minutes": 15, "budget": 2, "mode": "ebike", "method": "greedy"})
    assert r.status_code == 200, r.text
    assert 1 <= len(r.json()["selected"]) <= 2


@pytest.mark.parametrize(
    ("scenario", "status", "words"),
    [
        ({"minutes": 15}, 422, "exactly one of add, target_share or budget"),
        ({"add": 2, "budget": 3}, 422, "exactly one of"),
        ({"add": 2, "minutes": 0}, 422, "minutes"),
        ({"add": 2, "minutes": 180}, 422, "minutes"),
        ({"add": 2, "method": "magic"}, 422, "method"),
        ({"add": 2, "time_limit_seconds": 600}, 422, "time_limit_seconds"),
        ({"add": 2, "candidates": "everywhere"}, 422, "candidates"),
        ({"target_share": 1.5}, 422, "target_share"),
        ({"add": 2, "min_per_area": 1}, 422, "min_per_area"),
        ({"target_share": 1.0, "minutes": 1}, 422, "reach"),
    ],
)
def test_bad_scenarios(client: TestClient, scenario: dict[str, Any], status: int, words: str) -> None:
    r = client.post("/siting", json=scenario)
    assert r.status_code == status, r.text
    body = r.json()
    assert words in body["detail"] or words == body["field"], body


# -- fairness (#21)
WEST = (113.92, 22.535, 113.945, 22.56)
EAST = (113.945, 22.535, 113.97, 22.56)


@pytest.fixture()
def two_areas(db_session: Session) -> Any:
    import geopandas as gpd
    import shapely

    frame = gpd.GeoDataFrame(
        {"area_code": ["440305901", "440305902"], "area_name": ["西片", "东片"]},
        geometry=[shapely.box(*WEST), shapely.box(*EAST)],
        crs="EPSG:4326",
    )
    repository.upsert_areas(db_session, frame, level="township", source="test")
    return frame


def test_fairness_equals_plan_sites(
    client: TestClient, api_app: Any, db_session: Session, two_areas: Any
) -> None:
    scenario = {"minutes": 10, "add": 3, "min_share_per_area": 0.2, "min_share_per_group": 0.2}
    r = client.post("/siting", json=scenario)
    assert r.status_code == 200, r.text
    body = r.json()
    app = api_app[0]
    net = app.state.networks["walk"]
    demand = combine_demand(demand_from_pois(app.state.settings.demand_pois), demand_from_network(net))
    ref = plan_sites(net, repository.stations_frame(db_session), demand,
                     candidates_from_pois(app.state.settings.demand_pois), minutes=10, add=3,
                     areas=repository.areas_frame(db_session), min_share_per_area=0.2,
                     min_share_per_group=0.2).as_dict()  # fmt: skip
    assert body["objective"] == pytest.approx(ref["objective"])
    assert body["price_of_fairness"] == pytest.approx(ref["price_of_fairness"])
    assert body["price_of_fairness"]["weight"] >= 0
    assert body["binding_areas"] == ref["binding_areas"] and body["fairness"] == ref["fairness"]
    assert [a["area_code"] for a in body["per_area"]] == ["440305901", "440305902"]
    assert all(a["share_after"] >= 0.2 - 1e-9 for a in body["per_area"])
    assert all(g["share_after"] >= 0.2 - 1e-9 for g in body["per_group"])


@pytest.mark.parametrize(
    ("scenario", "field"),
    [
        ({"add": 2, "min_share_per_area": 1.5}, "min_share_per_area"),
        ({"add": 2, "min_share_per_group": -0.1}, "min_share_per_group"),
        ({"add": 2, "max_p95_per_area_minutes": 0}, "max_p95_per_area_minutes"),
        ({"add": 2, "min_share_per_area": 0.3}, "min_share_per_area"),  # no stored areas
        ({"add": 2, "max_p95_per_area_minutes": 20}, "max_p95_per_area_minutes"),  # no stored areas
        ({"add": 2, "min_share_per_group": 0.3, "method": "greedy"}, "min_share_per_group"),
        ({"target_share": 0.3, "min_share_per_group": 0.3}, "min_share_per_group"),
        ({"add": 1, "min_share_per_group": 1.0}, "min_share_per_group"),  # infeasible
    ],
)
def test_bad_fairness(client: TestClient, scenario: dict[str, Any], field: str) -> None:
    r = client.post("/siting", json=scenario)
    assert r.status_code == 422, r.text
    body = r.json()
    assert field in body["detail"] or body.get("field") == field, body
