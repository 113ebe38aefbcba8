"""Fixtures for the map tests: real Shenzhen data, a local HTTP server and headless Chromium over CDP."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import websocket

from geo.config import PROJECT_ROOT, data_dir
from maps.assets import STATIC_DIR

ARTIFACTS = PROJECT_ROOT / "test-artifacts"
SHENZHEN = "shenzhen_roadnetworkcreator"
#: the dense core of the Shenzhen extract (SOURCES.md)
CORE = (113.92, 22.535, 113.97, 22.56)

#: POI amenity -> station kind, to turn real host-type POIs into a realistic station registry
_KIND_BY_AMENITY = {
    "bank": "union_station",
    "fuel": "outdoor_worker_station",
    "post_office": "outdoor_worker_station",
    "community_centre": "worker_home",
    "townhall": "worker_service_center",
    "police": "love_station",
    "library": "worker_home",
    "social_facility": "love_station",
    "toilets": "outdoor_worker_station",
    "charging_station": "gig_station",
}
_AMENITY_SETS = (
    ["drinking_water", "charging", "toilet", "microwave"],
    ["drinking_water", "seating", "air_conditioning"],
    ["drinking_water", "charging", "first_aid", "wifi"],
    ["toilet", "seating"],
)


def shenzhen_pois() -> gpd.GeoDataFrame:
    return gpd.read_file(data_dir() / SHENZHEN / "shenzhen_nanshan_osm_pois.geojson")


def shenzhen_stations() -> gpd.GeoDataFrame:
    """Stations at the real candidate-host POIs of Nanshan (banks, fuel, post offices, ...)."""
    pois = shenzhen_pois()
    hosts = pois[pois["role_hint"] == "candidate_host"].reset_index(drop=True)
    names = hosts["name:zh"].fillna(hosts["name"]).fillna(hosts["amenity"])
    frame = gpd.GeoDataFrame(
        {
            "station_id": [f"sz-{i}" for i in hosts["osm_id"]],
            "name": names.astype(str) + "驿站",
            "kind": [_KIND_BY_AMENITY.get(str(a), "other") for a in hosts["amenity"]],
            "status": ["open" if i % 5 else "planned" for i in range(len(hosts))],
            "amenities": [_AMENITY_SETS[i % len(_AMENITY_SETS)] for i in range(len(hosts))],
            "opening_hours": ["Mo-Su 08:00-20:00" if i % 2 else "24/7" for i in range(len(hosts))],
            "address": ["深圳市南山区" + str(n) for n in names],
            "host_org": "南山区总工会",
            "phone": None,
            "township_code": None,
            "township_name": None,
            "source_crs": "wgs84",
        },
        geometry=hosts.geometry.values,
        crs=4326,
    )
    return frame


def shenzhen_osm_nodes() -> gpd.GeoDataFrame:
    """Every OSM node of the Shenzhen extract inside the dense core (real positions)."""
    path = data_dir() / SHENZHEN / "shenzhen_nanshan_osm.osm"
    lon, lat, ids = [], [], []
    for _event, elem in ET.iterparse(path):
        if elem.tag == "node":
            x, y = float(elem.get("lon", "nan")), float(elem.get("lat", "nan"))
            if CORE[0] <= x <= CORE[2] and CORE[1] <= y <= CORE[3]:
                lon.append(x)
                lat.append(y)
                ids.append(elem.get("id"))
        elem.clear()
    return gpd.GeoDataFrame({"osm_id": ids}, geometry=gpd.points_from_xy(lon, lat), crs=4326)


@pytest.fixture(scope="session")
def stations() -> gpd.GeoDataFrame:
    return shenzhen_stations()


@dataclass(frozen=True)
class RealCoverage:
    """The real geo pipeline on Shenzhen Nanshan: walk network, coverage, gaps, covered area."""

    network: Any
    result: Any
    gaps: gpd.GeoDataFrame
    covered: gpd.GeoDataFrame
    areas: gpd.GeoDataFrame
    minutes: float


@pytest.fixture(scope="session")
def real_coverage(tmp_path_factory: pytest.TempPathFactory) -> RealCoverage:
    """Every third host POI as a station, POI + street-length demand, 5-minute walk coverage, by the
    real 街道 (township) boundaries of the same OSM extract.

    Five minutes (not 15) keeps ``covered_area`` (a buffer union of the reached streets) quick and
    leaves real gaps on the map.
    """
    from geo.areas import areas_from_osm
    from geo.coverage import compute_coverage, covered_area
    from geo.demand import combine_demand, demand_from_network, demand_from_pois
    from geo.gaps import find_gaps
    from geo.network import load_network

    minutes = 5.0
    net = load_network(
        data_dir() / SHENZHEN / "shenzhen_nanshan_osm.osm", mode="walk", clip=CORE,
        cache_dir=tmp_path_factory.mktemp("network-cache"),
    )  # fmt: skip
    stations = shenzhen_stations().iloc[::3].reset_index(drop=True)
    streets = demand_from_network(net, meters_per_point=200.0)
    demand = combine_demand(demand_from_pois(shenzhen_pois()), streets)
    areas = areas_from_osm(data_dir() / SHENZHEN / "shenzhen_nanshan_osm.osm", admin_level=8)
    result = compute_coverage(net, stations, demand, minutes=minutes, areas=areas)
    gaps = find_gaps(result, resolution=9, stations=result.stations)
    covered = covered_area(result)
    return RealCoverage(net, result, gaps, covered, areas, minutes)


@pytest.fixture(scope="session")
def osm_nodes() -> gpd.GeoDataFrame:
    return shenzhen_osm_nodes()


def many_stations(nodes: gpd.GeoDataFrame, n: int) -> gpd.GeoDataFrame:
    """``n`` stations at distinct real OSM node positions, kinds cycling through the checklist."""
    from geo import catalog

    pick = nodes.sample(n=n, random_state=7).reset_index(drop=True)
    kinds = catalog.station_kind_codes()
    return gpd.GeoDataFrame(
        {
            "station_id": [f"n{i}" for i in pick["osm_id"]],
            "name": [f"站点{i}" for i in range(n)],
            "kind": [kinds[i % len(kinds)] for i in range(n)],
            "status": "open",
            "amenities": [_AMENITY_SETS[i % len(_AMENITY_SETS)] for i in range(n)],
            "opening_hours": "24/7",
            "address": "深圳市南山区",
        },
        geometry=pick.geometry.values,
        crs=4326,
    )


# --------------------------------------------------------------------------- local HTTP server


class _Handler(SimpleHTTPRequestHandler):
    routes: ClassVar[dict[str, Any]] = {}
    seen: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.seen.append(self.path)
        route = self.routes.get(self.path.split("?", 1)[0])
        if route is not None:
            ctype, body = route(self.path) if callable(route) else route
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class LocalServer:
    root: Path
    port: int
    routes: dict[str, Any]
    seen: list[str]

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def page(self, name: str, html: str) -> str:
        (self.root / name).write_text(html, encoding="utf-8")
        return f"{self.base}/{name}"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LocalServer]:
    """Serve ``tmp_path`` with ``/static`` -> ``maps/static`` on 127.0.0.1 (random port)."""
    (tmp_path / "static").symlink_to(STATIC_DIR)
    routes: dict[str, Any] = {}
    seen: list[str] = []
    handler = type("Handler", (_Handler,), {"routes": routes, "seen": seen})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(tmp_path)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield LocalServer(tmp_path, httpd.server_address[1], routes, seen)
    finally:
        httpd.shutdown()
        httpd.server_close()


# --------------------------------------------------------------------------- Chromium over CDP

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@dataclass
class PageReport:
    requests: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[str]:
        return self.console_errors + self.exceptions + self.failed


class Browser:
    """A headless Chromium driven over the DevTools protocol (one page target)."""

    def __init__(self) -> None:
        self.profile = tempfile.mkdtemp(prefix="yizhan-chromium-")
        args = [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-quic",
            "--no-first-run",
            "--disable-component-update",
            "--disable-sync",
            "--disable-default-apps",
            "--disable-extensions",
            "--remote-allow-origins=*",
            f"--user-data-dir={self.profile}",
            "--remote-debugging-port=0",
            "about:blank",
        ]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = Path(self.profile) / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not port_file.exists() or not port_file.read_text().strip():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("Chromium did not start (no DevToolsActivePort)")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as resp:
            targets = json.load(resp)
        page = next(t for t in targets if t.get("type") == "page")
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=60, suppress_origin=True)
        self._id = 0
        self.events: list[dict[str, Any]] = []
        for domain in ("Page", "Runtime", "Network", "Log"):
            self.send(f"{domain}.enable")

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        self._id += 1
        msg_id = self._id
        self.ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == msg_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return dict(msg.get("result", {}))
            if "method" in msg:
                self.events.append(msg)

    def evaluate(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"JS error in {expression!r}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, *, timeout: float = 30.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {expression}")
            time.sleep(0.2)

    def load(
        self,
        url: str,
        *,
        width: int = 1280,
        height: int = 900,
        mobile: bool = False,
        ready: str = "document.readyState === 'complete'",
        geolocation: tuple[float, float] | None = None,
        timeout: float = 30.0,
    ) -> PageReport:
        """Open ``url`` and wait until ``ready`` is true; return what the page requested and logged."""
        self.events.clear()
        self.send(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=mobile,
        )
        if geolocation is not None:
            self.send("Browser.grantPermissions", permissions=["geolocation"])
            self.send(
                "Emulation.setGeolocationOverride",
                longitude=geolocation[0],
                latitude=geolocation[1],
                accuracy=10,
            )
        self.send("Page.navigate", url=url)
        self.wait_for(ready, timeout=timeout)
        time.sleep(0.5)
        self.evaluate("1")  # drain pending events
        return self.report()

    def report(self) -> PageReport:
        rep = PageReport()
        for ev in self.events:
            method, params = ev["method"], ev.get("params", {})
            if method == "Network.requestWillBeSent":
                rep.requests.append(params["request"]["url"])
            elif method == "Network.loadingFailed" and not params.get("canceled"):
                rep.failed.append(f"{params.get('errorText')} ({params.get('requestId')})")
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                rep.console_errors.append(
                    " ".join(str(a.get("value", a.get("description"))) for a in params["args"])
                )
            elif method == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                exc = details.get("exception", {})
                text = exc.get("description") or exc.get("value") or details.get("text")
                rep.exceptions.append(f"{text} at {details.get('url', '')}:{details.get('lineNumber')}")
            elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                rep.console_errors.append(f"{params['entry'].get('text')} {params['entry'].get('url', '')}")
        return rep

    def screenshot(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = self.send("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        try:
            self.ws.close()
        finally:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
            shutil.rmtree(self.profile, ignore_errors=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    b = Browser()
    try:
        yield b
    finally:
        b.close()


def only_local(urls: list[str]) -> list[str]:
    """The URLs that leave 127.0.0.1 (``data:``/``blob:``/``about:`` stay in the page)."""
    return [u for u in urls if not u.startswith(("http://127.0.0.1:", "data:", "blob:", "about:"))]


def h3_cells_frame(points: gpd.GeoDataFrame, weights: np.ndarray, *, resolution: int) -> gpd.GeoDataFrame:
    """Sum weights of points per H3 cell into a hexagon GeoDataFrame (EPSG:4326)."""
    import h3
    from shapely.geometry import Polygon

    cells = [h3.latlng_to_cell(p.y, p.x, resolution) for p in points.geometry]
    table = pd.DataFrame({"h3": cells, "uncovered_weight": weights}).groupby("h3", as_index=False).sum()
    table = table.sort_values("uncovered_weight", ascending=False).reset_index(drop=True)
    table["rank"] = np.arange(1, len(table) + 1)
    polys = [Polygon([(lng, lat) for lat, lng in h3.cell_to_boundary(c)]) for c in table["h3"]]
    return gpd.GeoDataFrame(table, geometry=polys, crs=4326)
