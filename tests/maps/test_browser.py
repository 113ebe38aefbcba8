"""Real-browser tests: headless Chromium over the DevTools protocol loads each page from a local HTTP
server on 127.0.0.1 and checks that it runs without console errors, requests nothing outside the
machine (``tiles="none"``), and holds the expected markers, clusters, hexagons, sites and results.
Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from geo.crs import wgs84_to_gcj02
from maps.base import base_map
from maps.coverage import add_stations, coverage_map
from maps.finder import finder_page
from tests.maps.conftest import (
    ARTIFACTS,
    Browser,
    LocalServer,
    RealCoverage,
    many_stations,
    only_local,
    shenzhen_pois,
)

pytestmark = pytest.mark.browser

STATIONS_READY = (
    "!!(window.yizhanLayers && window.yizhanLayers.stations && window.yizhanLayers.stations._map)"
)
#: no zoom animation running (clusters of two zoom levels coexist while it runs)
IDLE = (
    "(() => { const g = window.yizhanLayers.stations;"
    " const pan = g._map._panAnim;"
    " return !g._map._animatingZoom && !g._inZoomAnimation && !(pan && pan._inProgress); })()"
)
#: counts what the marker-cluster layer shows: clusters, the markers they hold, loose markers
CLUSTER_STATE = """(() => {
  const g = window.yizhanLayers.stations;
  const shown = g._featureGroup.getLayers();
  let held = 0, clusters = 0, loose = 0;
  for (const l of shown) {
    if (l.getChildCount) { clusters += 1; held += l.getChildCount(); } else { loose += 1; held += 1; }
  }
  const bounds = g._map.getBounds();
  const inView = g.getLayers().filter(m => bounds.contains(m.getLatLng())).length;
  return {total: g.getLayers().length, clusters, loose, held, inView,
          domClusters: document.querySelectorAll('.marker-cluster').length,
          domStations: document.querySelectorAll('.yz-station').length};
})()"""


def assert_clean(report: Any) -> None:
    assert report.errors == [], report.errors
    assert only_local(report.requests) == [], only_local(report.requests)


def test_5000_stations_stay_clustered(
    browser: Browser, server: LocalServer, osm_nodes: gpd.GeoDataFrame
) -> None:
    frame = many_stations(osm_nodes, 5000)
    m = add_stations(frame, base_map(tiles="none", assets="local"))
    m.fit_bounds(
        [[frame.geometry.y.min(), frame.geometry.x.min()], [frame.geometry.y.max(), frame.geometry.x.max()]]
    )
    url = server.page("stations5000.html", m.get_root().render())
    report = browser.load(url, ready=STATIONS_READY)
    assert_clean(report)
    browser.wait_for(IDLE)
    state = browser.evaluate(CLUSTER_STATE)
    assert state["total"] == 5000
    assert state["clusters"] > 0 and state["domClusters"] == state["clusters"]
    assert state["domStations"] == state["loose"]
    assert state["held"] == state["inView"] == 5000  # every station is in exactly one shown cluster/marker
    assert state["clusters"] + state["loose"] < 1000  # clustered: far fewer DOM markers than stations
    browser.screenshot(ARTIFACTS / "coverage_5000_stations.png")
    # zooming in breaks clusters up: more loose markers; the groups shown hold every station in view
    # (clusters at the edge also hold some just outside it)
    browser.evaluate("void window.yizhanLayers.stations._map.setZoom(17, {animate: false})")
    time.sleep(0.5)
    browser.wait_for(IDLE)
    zoomed = browser.evaluate(CLUSTER_STATE)
    assert zoomed["inView"] <= zoomed["held"] < 5000
    assert zoomed["loose"] > state["loose"] and zoomed["domStations"] == zoomed["loose"]
    assert browser.report().errors == []


def test_coverage_map_real_pipeline(
    browser: Browser, server: LocalServer, real_coverage: RealCoverage
) -> None:
    res = real_coverage.result
    pois = shenzhen_pois()
    shops = pois[pois["role_hint"] == "demand_retail"].head(3)
    proposals = pd.DataFrame(
        {"order": [1, 2, 3], "name": shops["name"].fillna("候选点").astype(str).to_list(),
         "lon": shops.geometry.x.to_list(), "lat": shops.geometry.y.to_list(),
         "gain": [6.0, 4.0, 2.0], "cumulative_share": [0.6, 0.7, 0.75]}
    )  # fmt: skip
    m = coverage_map(
        res.stations,
        covered=real_coverage.covered,
        gaps=real_coverage.gaps,
        areas=real_coverage.areas,
        by_area=res.by_area,
        proposals=proposals,
        headline=res.summary.as_dict(),
        minutes=real_coverage.minutes,
        tiles="none",
        assets="local",
        date="2026-11-23",
    )
    url = server.page("coverage.html", m.get_root().render())
    report = browser.load(url, ready=STATIONS_READY)
    assert_clean(report)
    time.sleep(0.5)
    assert browser.evaluate("document.querySelectorAll('path.yz-gap').length") == len(real_coverage.gaps)
    assert browser.evaluate("document.querySelectorAll('path.yz-area').length") == len(real_coverage.areas)
    assert browser.evaluate("document.querySelectorAll('path.yz-covered-walk').length") == 1
    assert browser.evaluate("document.querySelectorAll('.yz-proposal').length") == 3
    assert browser.evaluate("window.yizhanLayers.stations.getLayers().length") == len(res.stations)
    assert browser.evaluate("document.querySelectorAll('.leaflet-control-layers-overlays label').length") == 6
    assert browser.evaluate("!!document.querySelector('.leaflet-control-zoom-fullscreen')")
    assert browser.evaluate("!!document.querySelector('.leaflet-control-scale')")
    headline = browser.evaluate("document.querySelector('.yz-title b[data-k=covered_share]').textContent")
    assert headline == f"{res.summary.covered_share:.1%}"
    browser.screenshot(ARTIFACTS / "coverage_map.png")
    # the gaps layer can be switched off in the layer control
    browser.evaluate(
        "[...document.querySelectorAll('.leaflet-control-layers-overlays label')]"
        ".find(l => l.textContent.includes('服务空白')).querySelector('input').click()"
    )
    assert browser.evaluate("document.querySelectorAll('path.yz-gap').length") == 0


def test_inline_coverage_page_requests_nothing(
    browser: Browser, server: LocalServer, stations: gpd.GeoDataFrame
) -> None:
    m = coverage_map(
        stations, headline={"covered_share": 0.5, "uncovered": 10}, tiles="none", assets="inline"
    )
    url = server.page("inline.html", m.get_root().render())
    report = browser.load(url, ready=STATIONS_READY)
    assert_clean(report)
    served = [u for u in report.requests if u.startswith("http")]
    assert served == [url]  # everything else is embedded (data: URIs at most)
    # the embedded Font Awesome font (station icons) loads from its data: URI
    faces = browser.evaluate("document.fonts.load('900 12px \"Font Awesome 6 Free\"').then(f => f.length)")
    assert faces >= 1


# --------------------------------------------------------------------------------------------- finder


def haversine_m(lon1: float, lat1: float, lon2: np.ndarray, lat2: np.ndarray) -> np.ndarray:
    r = math.pi / 180
    a = (
        np.sin((lat2 - lat1) * r / 2) ** 2
        + np.cos(lat1 * r) * np.cos(lat2 * r) * np.sin((lon2 - lon1) * r / 2) ** 2
    )
    return np.asarray(6371008.8 * 2 * np.arctan2(np.sqrt(a), np.sqrt(1 - a)))


def nearest_answer(stations: gpd.GeoDataFrame) -> Any:
    """A /nearest stand-in over the real stations (straight-line metres; API response shape)."""
    open_ = stations[stations["status"] == "open"].reset_index(drop=True)

    def answer(path: str) -> tuple[str, bytes]:
        q = parse_qs(urlsplit(path).query)
        lon, lat = float(q["lon"][0]), float(q["lat"][0])
        wanted = q.get("amenity", [])
        rows = open_[[all(a in am for a in wanted) for am in open_["amenities"]]]
        meters = haversine_m(lon, lat, rows.geometry.x.to_numpy(), rows.geometry.y.to_numpy())
        order = np.argsort(meters)[: int(q["k"][0])]
        results = []
        for i in order:
            st = rows.iloc[int(i)]
            glon, glat = wgs84_to_gcj02(st.geometry.x, st.geometry.y)
            results.append({
                "station": {"type": "Feature", "id": st["station_id"],
                            "geometry": {"type": "Point", "coordinates": [st.geometry.x, st.geometry.y]},
                            "properties": {"name": st["name"], "kind": st["kind"],
                                           "amenities": list(st["amenities"]),
                                           "opening_hours": st["opening_hours"], "address": st["address"]}},
                "minutes": float(meters[i]) / 75.0, "meters": float(meters[i]),
                "route": {"type": "LineString",
                          "coordinates": [[lon, lat], [(lon + st.geometry.x) / 2, lat],
                                          [st.geometry.x, st.geometry.y]]},
                "amap_url": f"https://uri.amap.com/navigation?to={glon:.6f},{glat:.6f},x&mode=walk",
                "hours_today": "08:00-20:00",
            })  # fmt: skip
        body = {"query": {"lon": lon, "lat": lat, "crs": q["crs"][0]}, "results": results}
        return "application/json", json.dumps(body, ensure_ascii=False).encode()

    return answer


FINDER_DONE = "!!(window.yizhanFinder && window.yizhanFinder.state.done > {n})"


def test_finder_with_api(browser: Browser, server: LocalServer, stations: gpd.GeoDataFrame) -> None:
    server.routes["/nearest"] = nearest_answer(stations)
    url = server.page("finder.html", finder_page(stations, api_base="", tiles="none", assets="local"))
    lon, lat = 113.9445, 22.5405
    report = browser.load(f"{url}?lon={lon}&lat={lat}", width=390, height=844, mobile=True,
                          ready=FINDER_DONE.format(n=0))  # fmt: skip
    assert_clean(report)
    asked = [p for p in server.seen if p.startswith("/nearest")]
    q = parse_qs(urlsplit(asked[-1]).query)
    assert q["crs"] == ["wgs84"] and q["mode"] == ["walk"] and q["k"] == ["3"] and q["open_now"] == ["true"]
    assert float(q["lon"][0]) == pytest.approx(lon) and float(q["lat"][0]) == pytest.approx(lat)
    cards = browser.evaluate("[...document.querySelectorAll('.yz-result .yz-name')].map(e => e.textContent)")
    open_ = stations[stations["status"] == "open"]
    expected = open_.iloc[
        np.argsort(haversine_m(lon, lat, open_.geometry.x.to_numpy(), open_.geometry.y.to_numpy()))[:3]
    ]
    assert cards == list(expected["name"])
    navs = browser.evaluate("[...document.querySelectorAll('a.yz-nav')].map(a => a.href)")
    assert len(navs) == 3 and all(n.startswith("https://uri.amap.com/navigation?to=") for n in navs)
    assert browser.evaluate("document.querySelectorAll('path.yz-route').length") == 1
    assert browser.evaluate("document.querySelectorAll('.yz-result-pin').length") == 3
    assert "分钟" in browser.evaluate("document.querySelector('.yz-time').textContent")
    assert browser.evaluate("document.querySelectorAll('.yz-est').length") == 0  # real answers, no estimate
    browser.screenshot(ARTIFACTS / "finder.png")

    # an amenity button asks again with that amenity
    browser.evaluate("document.querySelector('.yz-chip[data-amenity=toilet]').click()")
    browser.wait_for(FINDER_DONE.format(n=1))
    q = parse_qs(urlsplit([p for p in server.seen if p.startswith("/nearest")][-1]).query)
    assert q["amenity"] == ["toilet"]
    amen = browser.evaluate("[...document.querySelectorAll('.yz-result .yz-amen')].map(e => e.textContent)")
    assert amen and all("卫生间" in a for a in amen)
    # e-bike mode
    browser.evaluate("document.querySelector('.yz-mode[data-mode=ebike]').click()")
    browser.wait_for(FINDER_DONE.format(n=2))
    q = parse_qs(urlsplit([p for p in server.seen if p.startswith("/nearest")][-1]).query)
    assert q["mode"] == ["ebike"]
    # English
    browser.evaluate("document.getElementById('yz-lang').click()")
    assert browser.evaluate("document.getElementById('yz-locate').textContent") == "Locate me"
    assert "min" in browser.evaluate("document.querySelector('.yz-time').textContent")
    assert browser.evaluate("document.documentElement.lang") == "en"
    browser.screenshot(ARTIFACTS / "finder_en.png")
    assert browser.report().errors == []


def test_finder_locate_me_and_tap(browser: Browser, server: LocalServer, stations: gpd.GeoDataFrame) -> None:
    server.routes["/nearest"] = nearest_answer(stations)
    url = server.page("finder.html", finder_page(stations, api_base="", tiles="none"))
    report = browser.load(url, width=390, height=844, mobile=True, geolocation=(113.9530, 22.5480),
                          ready="!!window.yizhanFinder")  # fmt: skip
    assert_clean(report)
    assert "定位我" in browser.evaluate("document.getElementById('yz-status').textContent")  # the hint
    browser.evaluate("document.getElementById('yz-locate').click()")
    browser.wait_for(FINDER_DONE.format(n=0))
    q = parse_qs(urlsplit([p for p in server.seen if p.startswith("/nearest")][-1]).query)
    assert float(q["lon"][0]) == pytest.approx(113.9530) and float(q["lat"][0]) == pytest.approx(22.5480)
    assert browser.evaluate("window.yizhanFinder.state.point.how") == "gps"
    # a tap on the map is the manual fallback
    # the pixel to tap and the point under it (the map moves to the results afterwards)
    xy, tapped = browser.evaluate(
        "(() => { const m = window.yizhanFinder.map, r = m.getContainer().getBoundingClientRect();"
        " const p = m.latLngToContainerPoint(m.getCenter()).add(L.point(40, 30));"
        " const ll = m.containerPointToLatLng(p);"
        " return [[r.left + p.x, r.top + p.y], [ll.lng, ll.lat]]; })()"
    )
    for kind in ("mousePressed", "mouseReleased"):
        browser.send("Input.dispatchMouseEvent", type=kind, x=xy[0], y=xy[1], button="left", clickCount=1)
    browser.wait_for(FINDER_DONE.format(n=1))
    assert browser.evaluate("window.yizhanFinder.state.point.how") == "tap"
    q = parse_qs(urlsplit([p for p in server.seen if p.startswith("/nearest")][-1]).query)
    assert float(q["lon"][0]) == pytest.approx(tapped[0], abs=2e-5)  # within a pixel
    assert float(q["lat"][0]) == pytest.approx(tapped[1], abs=2e-5)
    assert browser.report().errors == []


def test_finder_offline_estimate(browser: Browser, server: LocalServer, stations: gpd.GeoDataFrame) -> None:
    html = finder_page(stations, api_base=None, tiles="none", assets="inline", mode="ebike")
    url = server.page("offline.html", html)
    lon, lat = 113.9360, 22.5440
    report = browser.load(f"{url}?lon={lon}&lat={lat}", width=390, height=844, mobile=True,
                          ready=FINDER_DONE.format(n=0))  # fmt: skip
    assert_clean(report)
    assert [u for u in report.requests if u.startswith("http")] == [f"{url}?lon={lon}&lat={lat}"]
    assert not [p for p in server.seen if p.startswith("/nearest")]
    assert "直线距离估算" in browser.evaluate("document.getElementById('yz-status').textContent")
    assert browser.evaluate("document.querySelectorAll('.yz-est').length") == 3
    results = browser.evaluate("window.yizhanFinder.state.results.map(r => [r.name, r.meters, r.minutes])")
    open_ = stations[stations["status"] == "open"].reset_index(drop=True)
    meters = haversine_m(lon, lat, open_.geometry.x.to_numpy(), open_.geometry.y.to_numpy())
    order = np.argsort(meters)[:3]
    assert [r[0] for r in results] == list(open_["name"].iloc[order])
    for r, i in zip(results, order, strict=True):
        assert r[1] == pytest.approx(meters[i], rel=1e-6)
        assert r[2] == pytest.approx(meters[i] / (15.0 * 1000 / 60), rel=1e-6)  # e-bike 15 km/h
    assert browser.evaluate("document.querySelectorAll('path.yz-route').length") == 1
    browser.screenshot(ARTIFACTS / "finder_offline.png")


def test_finder_on_amap_tiles_draws_in_gcj02(
    browser: Browser, server: LocalServer, stations: gpd.GeoDataFrame
) -> None:
    html = finder_page(stations, api_base=None, tiles="amap", assets="local")
    # tiles are the one remote resource: block them so the test stays on the machine
    browser.send("Network.setBlockedURLs", urls=["*autonavi.com*"])
    try:
        url = server.page("amap.html", html)
        browser.load(f"{url}?lon=113.9445&lat=22.5405", ready=FINDER_DONE.format(n=0))
        lon, lat = stations.geometry.x.to_numpy(), stations.geometry.y.to_numpy()
        js = browser.evaluate(f"{json.dumps([[float(a), float(b)] for a, b in zip(lon, lat, strict=True)])}"
                              ".map(p => window.yizhanFinder.wgs2gcj(p[0], p[1]))")  # fmt: skip
        glon, glat = wgs84_to_gcj02(lon, lat)
        assert np.allclose([p[0] for p in js], glon, atol=1e-9) and np.allclose(
            [p[1] for p in js], glat, atol=1e-9
        )
        back = browser.evaluate(f"window.yizhanFinder.gcj2wgs({glon[0]}, {glat[0]})")
        assert back == pytest.approx([lon[0], lat[0]], abs=1e-8)
        first = browser.evaluate("window.yizhanFinder.state.results[0]")
        pin = browser.evaluate(
            "(() => { let p = null; window.yizhanFinder.map.eachLayer(l => {"
            " if (l.options && l.options.icon && l.options.icon.options.className.includes('yz-result-pin')"
            " && l.options.title === window.yizhanFinder.state.results[0].name) p = l.getLatLng(); });"
            " return p; })()"
        )
        expect = wgs84_to_gcj02(first["lon"], first["lat"])
        assert pin["lng"] == pytest.approx(expect[0], abs=1e-9) and pin["lat"] == pytest.approx(
            expect[1], abs=1e-9
        )
    finally:
        browser.send("Network.setBlockedURLs", urls=[])
