"""End to end: the yizhan API (uvicorn on 127.0.0.1, real PostGIS test database, real Nanshan networks)
serves the finder and coverage pages and their assets; headless Chromium uses them, and the finder
lists what the API's own ``/nearest`` answers (street routing, not an estimate).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import httpx
import pytest
import uvicorn
from sqlalchemy import Engine

from api.app import create_app
from api.settings import Settings
from tests.maps.conftest import ARTIFACTS, Browser, only_local

pytestmark = [pytest.mark.browser, pytest.mark.slow]

KEY = "maps-test-key-51c2"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def live_api(database_url: str, data_dir: Path) -> Iterator[str]:
    settings = Settings(database_url=database_url, data_dir=data_dir, api_keys=(KEY,))
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 180
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the API did not start")
        time.sleep(0.2)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture
def registry(live_api: str, clean_store: Engine, stations: gpd.GeoDataFrame) -> list[dict[str, Any]]:
    """The real host-POI stations posted to the live API (committed; the store is wiped after)."""
    created = []
    with httpx.Client(base_url=live_api, headers={"X-API-Key": KEY}, timeout=30) as client:
        for _, st in stations.iterrows():
            feature = {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [st.geometry.x, st.geometry.y]},
                "properties": {"name": st["name"], "kind": st["kind"], "status": st["status"],
                               "amenities": list(st["amenities"]), "opening_hours": "24/7",
                               "address": st["address"]},
            }  # fmt: skip
            r = client.post("/stations?crs=wgs84", json=feature)
            assert r.status_code == 201, r.text
            created.append(r.json())
    return created


def test_finder_served_by_the_api(live_api: str, registry: list[dict[str, Any]], browser: Browser) -> None:
    lon, lat = 113.9530, 22.5440
    report = browser.load(
        f"{live_api}/maps/finder?tiles=none&lon={lon}&lat={lat}", width=390, height=844, mobile=True,
        ready="!!(window.yizhanFinder && window.yizhanFinder.state.done > 0)", timeout=60,
    )  # fmt: skip
    assert report.errors == [], report.errors
    assert only_local(report.requests) == []
    assert any(u.endswith("/static/vendor/leaflet/leaflet.js") for u in report.requests)
    direct = httpx.get(
        f"{live_api}/nearest",
        params={"lon": lon, "lat": lat, "crs": "wgs84", "mode": "walk", "k": 3, "open_now": "true"},
        timeout=60,
    ).json()
    expected = [r["station"]["properties"]["name"] for r in direct["results"]]
    assert len(expected) == 3
    shown = browser.evaluate("[...document.querySelectorAll('.yz-result .yz-name')].map(e => e.textContent)")
    assert shown == expected
    minutes = browser.evaluate("window.yizhanFinder.state.results.map(r => r.minutes)")
    assert minutes == [r["minutes"] for r in direct["results"]]
    assert browser.evaluate("document.querySelectorAll('.yz-est').length") == 0
    navs = browser.evaluate("[...document.querySelectorAll('a.yz-nav')].map(a => a.href)")
    assert navs == [r["amap_url"] for r in direct["results"]]
    route = browser.evaluate("window.yizhanFinder.state.results[0].route.length")
    assert route == len(direct["results"][0]["route"]["coordinates"]) and route > 2  # a street route
    browser.screenshot(ARTIFACTS / "finder_api.png")


def test_coverage_page_served_by_the_api(
    live_api: str, registry: list[dict[str, Any]], browser: Browser
) -> None:
    report = browser.load(
        f"{live_api}/maps/coverage?tiles=none&minutes=10", timeout=300,
        ready="!!(window.yizhanLayers && window.yizhanLayers.stations && window.yizhanLayers.stations._map)",
    )  # fmt: skip
    assert report.errors == [], report.errors
    assert only_local(report.requests) == []
    assert browser.evaluate("window.yizhanLayers.stations.getLayers().length") == len(registry)
    assert browser.evaluate("document.querySelectorAll('path.yz-gap').length") > 0
    browser.screenshot(ARTIFACTS / "coverage_map_api.png")


def test_finder_shows_the_api_error_for_a_point_off_the_streets(
    live_api: str, registry: list[dict[str, Any]], browser: Browser
) -> None:
    lon, lat = 113.80, 22.62  # far outside the Nanshan network: unsnappable, the API answers 422
    report = browser.load(
        f"{live_api}/maps/finder?tiles=none&lon={lon}&lat={lat}", width=390, height=844, mobile=True,
        ready="!!(window.yizhanFinder && window.yizhanFinder.state.done > 0)", timeout=60,
    )  # fmt: skip
    assert report.exceptions == []
    # the only error is the browser's own log line for the 422 response
    assert all("422" in e for e in report.console_errors) and len(report.console_errors) == 1
    detail = httpx.get(f"{live_api}/nearest", params={"lon": lon, "lat": lat, "crs": "wgs84"}).json()[
        "detail"
    ]
    text = browser.evaluate("document.getElementById('yz-status').textContent")
    assert text == f"查询失败：{detail}"
    assert browser.evaluate("document.getElementById('yz-status').classList.contains('yz-warn')")
    assert browser.evaluate("document.querySelectorAll('.yz-result').length") == 0
