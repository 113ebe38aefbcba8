"""The planner's scenario map (maps/scenario.py) in headless Chromium: on real Shanghai and Changsha walk
networks a plan with added, closed and relocated stations is evaluated against its base
(geo.scenario.evaluate), and the page shows exactly the layers of ``station_changes`` and
``compare_results`` (counts per layer, legend, the arrow from old to new point), fetches nothing from
outside, and runs no script payload held in a scenario, station or worker-group name; the page the API
serves at ``/maps/scenarios/{name}`` works under its own Content-Security-Policy."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import geopandas as gpd
import numpy as np
import pytest
from fastapi.testclient import TestClient
from shapely.geometry import Point
from sqlalchemy.orm import Session

from geo.config import data_dir
from geo.network import load_network
from geo.scenario.compare import Comparison, compare_results
from geo.scenario.diff import StationChanges, station_changes
from geo.scenario.evaluate import ScenarioEvaluator
from geo.scenario.plan import Scenario, make_action
from maps.csp import content_security_policy
from maps.scenario import scenario_map
from tests.maps.conftest import Browser, LocalServer, only_local

pytestmark = pytest.mark.browser

PAYLOAD = '<img src="x-{0}" onerror="window.__xss=(window.__xss||[]).concat([\'{0}\'])">'
CITIES: dict[str, tuple[str, tuple[float, float, float, float] | None]] = {
    "shanghai": ("shanghai_le_degn/shanghai_jingan_huangpu_drive.osm", None),
    "changsha": (
        "changsha_osm_planner/changsha_yuelu_taozihu_map.osm",
        (112.94196, 28.18252, 112.94899, 28.18780),
    ),
}
LAYERS = ("kept", "added", "closed", "relocated", "gained", "lost")

#: every layer's count, and the first and last point of every relocation line
LAYER_STATE = """(() => {
  const out = {};
  for (const [k, g] of Object.entries(window.yizhanLayers || {})) out[k] = g.yizhanCount;
  const lines = [];
  const moved = window.yizhanLayers && window.yizhanLayers.relocated;
  if (moved) moved.eachLayer(l => { if (l.getLatLngs && l.getTooltip()) {
    const p = l.getLatLngs(), q = p[p.length - 1];
    lines.push([p[0].lat, p[0].lng, q.lat, q.lng]); } });
  out.lines = lines;
  out.legend = Object.fromEntries([...document.querySelectorAll('.yz-legend-scenario b[data-k]')]
    .map(b => [b.dataset.k, Number(b.textContent)]));
  return out; })()"""

#: opens the tooltip of every marker and line of every scenario layer
OPEN_TOOLTIPS = """(() => {
  let opened = 0;
  for (const g of Object.values(window.yizhanLayers || {})) g.eachLayer(l => {
    if (l.getTooltip && l.getTooltip()) { l.openTooltip(l.getLatLng ? l.getLatLng() : l.getLatLngs()[0]);
      opened += 1; } });
  return opened; })()"""


@dataclass(frozen=True)
class Plan:
    changes: StationChanges
    comparison: Comparison
    name: str


def _plan(city: str, *, payload: bool) -> Plan:
    osm, clip = CITIES[city]
    net = load_network(data_dir() / osm, mode="walk", clip=clip)
    rng = np.random.default_rng(14)
    big = np.flatnonzero(net.component == np.argmax(net.component_sizes))
    pick = rng.choice(big, 8, replace=False)
    names = [PAYLOAD.format(f"station{i}") if payload else f"{city}驿站{i}" for i in range(8)]
    base = gpd.GeoDataFrame(
        {
            "station_id": [str(10 + i) for i in range(8)],
            "name": names,
            "kind": "union_station",
            "status": "open",
        },
        geometry=[Point(x, y) for x, y in zip(net.lon[pick], net.lat[pick], strict=True)],
        crs="EPSG:4326",
    )
    near = rng.choice(big, 400)
    demand = gpd.GeoDataFrame(
        {"demand_id": [f"d{i}" for i in range(400)], "weight": rng.integers(1, 6, 400).astype(float),
         "group": PAYLOAD.format("group") if payload else "delivery_rider"},
        geometry=[Point(x, y) for x, y in zip(net.lon[near] + rng.normal(0, 4e-4, 400),
                                              net.lat[near] + rng.normal(0, 4e-4, 400), strict=True)],
        crs="EPSG:4326",
    )  # fmt: skip
    spots = rng.choice(big, 3, replace=False)
    name = PAYLOAD.format("scenario") if payload else f"{city}扩面"
    scn = Scenario(name=name)
    for action in (
        make_action("add", lon=net.lon[spots[0]], lat=net.lat[spots[0]], name=names[0], cost=80000),
        make_action("add", lon=net.lon[spots[1]], lat=net.lat[spots[1]], cost=60000),
        make_action("close", station_id="11"),
        make_action("relocate", station_id="12", lon=net.lon[spots[2]], lat=net.lat[spots[2]], cost=20000),
    ):
        scn = scn.with_action(action)
    before = ScenarioEvaluator(net, base, demand, minutes=3).evaluate(Scenario(name="base"))[0]
    after = ScenarioEvaluator(net, base, demand, minutes=3).evaluate(scn)[0]
    cmp = compare_results(before, after, cost_b=scn.total_cost)
    return Plan(station_changes(before.stations, after.stations), cmp, name)


def _page(plan: Plan) -> str:
    c = plan.changes
    m = scenario_map(
        c.kept,
        c.added,
        c.closed,
        c.relocated,
        plan.comparison.changed,
        name=plan.name,
        summary=plan.comparison.summary,
        minutes=3,
        tiles="none",
        assets="local",
    )
    return str(m.get_root().render())


@pytest.mark.parametrize("city", sorted(CITIES))
def test_layers_show_the_difference(city: str, browser: Browser, server: LocalServer) -> None:
    plan = _plan(city, payload=False)
    c, changed = plan.changes, plan.comparison.changed
    assert c.counts() == {"kept": 6, "added": 2, "closed": 1, "relocated": 1}
    expected = {
        **c.counts(),
        "gained": int((changed["change"] == "gained").sum()),
        "lost": int((changed["change"] == "lost").sum()),
    }
    assert expected["gained"] + expected["lost"] > 0
    report = browser.load(server.page(f"scenario_{city}.html", _page(plan)), ready="!!window.yizhanLayers")
    assert only_local(report.requests) == [] and report.errors == []
    state = browser.evaluate(LAYER_STATE)
    assert {k: state[k] for k in LAYERS} == expected
    assert state["legend"] == expected
    moved = c.relocated.iloc[0]
    ((lat0, lon0, lat1, lon1),) = state["lines"]
    assert (lat0, lon0) == pytest.approx((moved["old_lat"], moved["old_lon"]), abs=1e-6)
    assert (lat1, lon1) == pytest.approx((moved.geometry.y, moved.geometry.x), abs=1e-6)
    assert browser.evaluate(OPEN_TOOLTIPS) >= sum(expected.values())
    assert "方案：" in browser.evaluate("document.body.innerText")


def test_payload_names_run_nothing(browser: Browser, server: LocalServer) -> None:
    plan = _plan("changsha", payload=True)
    browser.load(server.page("scenario_xss.html", _page(plan)), ready="!!window.yizhanLayers")
    assert browser.evaluate(OPEN_TOOLTIPS) > 0
    browser.evaluate("new Promise(r => setTimeout(r, 1000))")
    assert browser.evaluate("window.__xss || null") is None
    shown = browser.evaluate("document.body.innerText")
    assert (
        '<img src="x-scenario"' in shown and '<img src="x-station' in shown and '<img src="x-group"' in shown
    )


# ------------------------------------------------------------------------------- the served page
@pytest.fixture()
def api_client(database_url: str, data_dir: Path, db_session: Session) -> Iterator[TestClient]:
    from api.app import create_app
    from api.settings import Settings
    from tests.api._support import sessions_of

    app = create_app(Settings(database_url=database_url, data_dir=data_dir, api_keys=("map-key-3e1",)))
    with TestClient(app, raise_server_exceptions=False) as client, sessions_of(app, db_session):
        yield client


def _with_csp_meta(html: str, policy: str) -> str:
    """The page with its policy as a meta element (frame-ancestors is for the header only)."""
    header_only = "; frame-ancestors 'self'"
    meta = f'<meta http-equiv="Content-Security-Policy" content="{policy.replace(header_only, "")}">'
    return html.replace("<head>", "<head>" + meta, 1)


def test_served_page_runs_under_its_policy(
    api_client: TestClient, browser: Browser, server: LocalServer
) -> None:
    key = {"X-API-Key": "map-key-3e1"}
    name = PAYLOAD.format("served")
    for lon, lat in ((113.9365, 22.5405), (113.9530, 22.5440)):
        feature = {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [lon, lat]},
            "properties": {"name": PAYLOAD.format("registry"), "kind": "union_station"},
        }
        assert api_client.post("/stations", json=feature, headers=key).status_code == 201
    assert api_client.post("/scenarios", json={"name": name}, headers=key).status_code == 201
    r = api_client.post(
        f"/scenarios/{quote(name, safe='')}/actions",
        headers=key,
        json={"kind": "add", "lon": 113.9450, "lat": 22.5420, "name": PAYLOAD.format("added")},
    )
    assert r.status_code == 201, r.text
    page = api_client.get(f"/maps/scenarios/{quote(name, safe='')}", params={"minutes": 5, "tiles": "none"})
    assert page.status_code == 200, page.text
    policy = page.headers["content-security-policy"]
    assert policy == content_security_policy(page.text)
    report = browser.load(
        server.page("served_scenario.html", _with_csp_meta(page.text, policy)), ready="!!window.yizhanLayers"
    )
    assert report.errors == [] and only_local(report.requests) == []
    state = browser.evaluate(LAYER_STATE)
    assert (state["kept"], state["added"], state["closed"]) == (2, 1, 0)
    assert browser.evaluate(OPEN_TOOLTIPS) >= 3
    browser.evaluate("new Promise(r => setTimeout(r, 1000))")
    assert browser.evaluate("window.__xss || null") is None
    assert '<img src="x-served"' in browser.evaluate("document.body.innerText")
    assert api_client.get("/maps/scenarios/nope").status_code == 404
