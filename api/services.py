"""Request-time work shared by the routes and the commands: the served networks, demand, areas and
candidates, and the cached coverage results.

One home for "what does the server measure": every route that needs demand, areas or a coverage
result asks here (no route imports another route), and ``yizhan serve`` loads the same inputs
before it starts, so a bad file fails there with one line instead of at the first request.

Demand comes from ``Settings.demand`` (the same specs as ``yizhan coverage --demand``: a points file,
``pois:FILE`` or ``network``), else the POIs of ``Settings.demand_pois`` plus street length (the
bundled sample), else the street length of the served network. Every result carries its
``demand_source`` (``"file:demand.geojson"``, ``"pois:x.geojson+network:street_length"``,
``"network:street_length"``). Areas come from ``Settings.areas`` when set, else the store.

All frames are EPSG:4326 (WGS-84).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from geo.errors import InputError

if TYPE_CHECKING:  # the commands import this module: keep its own imports light
    import geopandas as gpd

    from api.settings import Settings
    from geo.network import Network

log = logging.getLogger(__name__)

#: coverage results kept per app (least recently used dropped first)
MAX_RESULTS = 16
STREET_LENGTH = "network:street_length"
_NETWORKS_LOCK = threading.Lock()
_LOADED: dict[tuple[Any, ...], Any] = {}
_APP_LOCK = threading.Lock()


# ------------------------------------------------------------------------------------------ networks
def _network_key(path: Path, mode: str, clip: Any) -> tuple[Any, ...]:
    stat = path.stat() if path.exists() else None
    return (str(path.resolve()), mode, clip, None if stat is None else (stat.st_mtime_ns, stat.st_size))


def load_networks(settings: Settings) -> dict[str, Network]:
    """The networks of ``settings`` by mode, clipped only when ``settings.network_clip`` is set.

    Loaded once per process (``yizhan serve`` loads them to check them before the app starts; the
    app's startup then finds them here).

    Raises
    ------
    geo.errors.YizhanError
        A missing or unreadable file, or a network with no arcs left (naming the file and mode).
    """
    networks: dict[str, Network] = {}
    for mode, path in settings.networks.items():
        key = _network_key(path, mode, settings.network_clip)
        with _NETWORKS_LOCK:
            found = _LOADED.get(key)
        if found is None:
            log.info("loading the %s network from %s", mode, path)
            found = load_network_file(path, mode, settings.network_clip)
            with _NETWORKS_LOCK:
                if len(_LOADED) > 8:
                    _LOADED.clear()
                _LOADED[key] = found
        networks[mode] = found
    return networks


def load_network_file(path: Path, mode: str, clip: Any = None) -> Network:
    """One network file (.npz, .osm, .graphml) for ``mode``, clipped when ``clip`` is given.

    A file that is no street network, or a network without arcs, raises InputError (``network``)
    with one line naming the file (never the parser's traceback).
    """
    from geo.errors import YizhanError
    from geo.network import load_network

    try:
        net = load_network(path, mode=mode, clip=clip)
    except YizhanError:
        raise
    except Exception as exc:  # a parser's own error on a file that is no street network
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{path.name} is not a readable {mode} network: {first}", field="network") from None
    if net.n_nodes == 0 or net.n_arcs == 0:
        where = f" inside the clip {clip}" if clip is not None else ""
        raise InputError(f"{path.name}: no {mode} streets{where}", field="network")
    return net


# ------------------------------------------------------------------------------------------ demand
@dataclass(frozen=True, eq=False)
class ServedDemand:
    """A demand frame (EPSG:4326) and where it came from (``demand_source``)."""

    frame: gpd.GeoDataFrame
    source: str


def demand_specs_of(settings: Settings) -> tuple[str, ...]:
    """The demand specs the server measures (see the module docstring)."""
    if settings.demand:
        return tuple(settings.demand)
    if settings.demand_pois is not None:
        return (f"pois:{settings.demand_pois}", "network")
    return ("network",)


def read_demand_part(
    spec: str, *, street_network: Callable[[], Network], crs: str = "wgs84", group: str | None = None,
    weight_field: str | None = None,
) -> tuple[gpd.GeoDataFrame, str]:
    """One demand spec (``network``, ``pois:FILE`` or a points file) as a frame and its source label.

    Raises :class:`geo.errors.InputError` (field ``demand``) when a file is missing.
    """
    from geo.demand import demand_from_network, demand_from_points, demand_from_pois

    text = spec.strip()
    if text.lower() == "network":
        return demand_from_network(street_network()), STREET_LENGTH
    if text.lower().startswith("pois:"):
        path = Path(text[5:]).expanduser()
        if not path.is_file():
            raise InputError(f"POI file not found: {path}", field="demand")
        return demand_from_pois(path), f"pois:{path.name}"
    path = Path(text).expanduser()
    if not path.is_file():
        raise InputError(f"file not found: {path} (give a points file, pois:FILE or network)", field="demand")
    frame = demand_from_points(path, crs=crs, group=group, weight_field=weight_field)
    return frame, f"file:{path.name}"


def read_demand(
    specs: Sequence[str], *, street_network: Callable[[], Network], crs: str = "wgs84",
) -> ServedDemand:
    """Every spec read and combined (:func:`geo.demand.combine_demand`), with the joined source."""
    from geo.demand import combine_demand

    parts = [read_demand_part(s, street_network=street_network, crs=crs) for s in specs or ["network"]]
    frame = combine_demand(*(f for f, _ in parts)) if len(parts) > 1 else parts[0][0]
    if frame.empty:
        raise InputError("no demand points to measure", field="demand")
    return ServedDemand(frame=frame, source="+".join(label for _, label in parts))


def check_demand_files(settings: Settings) -> None:
    """Read every file-based demand spec once (``yizhan serve`` calls this before starting)."""
    for spec in demand_specs_of(settings):
        if spec.strip().lower() != "network":
            read_demand_part(spec, street_network=_no_network, crs=settings.demand_crs)


def _no_network() -> Network:
    raise AssertionError("a file demand spec asked for the network")


# ------------------------------------------------------------------------------------------ areas
def read_areas_file(
    path: Path, *, level: str = "township", code_field: str | None = None, name_field: str | None = None,
) -> gpd.GeoDataFrame:
    """Areas of a boundary file or ``.osm`` extract, not empty (InputError naming ``areas`` otherwise)."""
    from geo.areas import read_areas

    if not path.is_file():
        raise InputError(f"file not found: {path}", field="areas")
    areas = read_areas(path, level=level, code_field=code_field, name_field=name_field)
    unclosed = areas.attrs.get("unclosed") or []
    if areas.empty:
        why = f" (boundary does not close: {', '.join(unclosed)})" if unclosed else ""
        raise InputError(f"no {level} areas in {path.name}{why}", field="areas")
    if unclosed:
        log.warning("%s: boundary does not close, left out: %s", path.name, ", ".join(unclosed))
    return areas


def settings_areas(settings: Settings) -> gpd.GeoDataFrame | None:
    """The areas file of the settings (None when unset)."""
    if settings.areas is None:
        return None
    return read_areas_file(
        settings.areas, level=settings.areas_level, code_field=settings.areas_code_field,
        name_field=settings.areas_name_field,
    )


# ------------------------------------------------------------------------------------------ per app
class ServiceCache:
    """Demand per mode, the areas file, candidates and coverage results of one app."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.demand: dict[str, ServedDemand] = {}
        self.candidates: dict[str, Any] = {}
        self.file_areas: list[Any] = []
        self.results: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self.covered: dict[tuple[Any, ...], Any] = {}


def service_cache(app_state: Any) -> ServiceCache:
    """The app's :class:`ServiceCache` (made on first use)."""
    with _APP_LOCK:
        caches: dict[str, Any] = app_state.caches  # made by the app's startup
        cache = caches.setdefault("services", ServiceCache())
    assert isinstance(cache, ServiceCache)
    return cache


def clear_results(app_state: Any) -> None:
    """Forget cached coverage results (demand, areas and candidates stay)."""
    cache = getattr(app_state, "caches", {}).get("services")
    if isinstance(cache, ServiceCache):
        with cache.lock:
            cache.results.clear()
            cache.covered.clear()


def served_demand(app_state: Any, mode: str) -> ServedDemand:
    """The demand the server measures for ``mode`` (computed once per app and mode)."""
    cache = service_cache(app_state)
    with cache.lock:
        found = cache.demand.get(mode)
    if found is not None:
        return found
    settings: Settings = app_state.settings
    network = app_state.networks.get(mode)
    if network is None:
        raise InputError(f"no network is loaded for mode {mode!r}", field="mode")
    demand = read_demand(demand_specs_of(settings), street_network=lambda: network, crs=settings.demand_crs)
    with cache.lock:
        cache.demand[mode] = demand
    return demand


def served_areas(app_state: Any, session: Any) -> gpd.GeoDataFrame | None:
    """The areas file of the settings, else the store's areas (None when the store has none)."""
    settings: Settings = app_state.settings
    if settings.areas is not None:
        cache = service_cache(app_state)
        with cache.lock:
            if cache.file_areas:
                return cache.file_areas[0]
        areas = settings_areas(settings)
        with cache.lock:
            cache.file_areas[:] = [areas]
        return areas
    from geo.db import repository

    stored = repository.areas_frame(session)
    return stored if len(stored) else None


def served_candidates(app_state: Any, source: str, mode: str) -> Any:
    """Siting candidates (cached per app): ``pois``, the host POIs of ``Settings.demand_pois``, or
    ``network``, points along the served network of ``mode`` every 300 m."""
    from geo.siting.candidates import candidates_from_network, candidates_from_pois

    cache = service_cache(app_state)
    key = source if source == "pois" else f"{source}:{mode}"
    with cache.lock:
        found = cache.candidates.get(key)
    if found is not None:
        return found
    if source == "network":
        cands = candidates_from_network(app_state.networks[mode], spacing_meters=300.0)
    else:
        path = app_state.settings.demand_pois
        if path is None or not Path(path).exists():
            raise InputError(
                f"no POI file configured for candidates (YIZHAN_DEMAND_POIS: {path}); "
                "ask for candidates=network", field="candidates"
            )
        cands = candidates_from_pois(path)
    with cache.lock:
        cache.candidates[key] = cands
    return cands


# ------------------------------------------------------------------------------------------ coverage
@dataclass(frozen=True, eq=False)
class ServedCoverage:
    """A cached :class:`geo.coverage.CoverageResult` with the demand source it measured."""

    result: Any
    demand_source: str
    areas: Any
    #: under an amenity filter: stations with no amenity data (unknown, not known to lack it)
    amenity_unknown: list[str] | None = None


def coverage_result(
    app_state: Any, session: Any, mode: str, *, minutes: float, open_at: dt.datetime | None,
    amenities: Sequence[str],
) -> ServedCoverage:
    """The coverage of one question on the current registry (cached per registry version)."""
    from geo.coverage import compute_coverage
    from geo.db import repository

    settings: Settings = app_state.settings
    cache = service_cache(app_state)
    version = repository.registry_version(session)
    areas = served_areas(app_state, session)
    area_key = tuple(sorted(areas["area_code"].astype(str))) if areas is not None else ()
    key = (mode, version, float(minutes), open_at, tuple(sorted(amenities)), hash(area_key))
    with cache.lock:
        found = cache.results.get(key)
        if found is not None:
            cache.results.move_to_end(key)
            return found
    demand = served_demand(app_state, mode)
    stations = repository.stations_frame(session)
    result = compute_coverage(
        app_state.networks[mode], stations, demand.frame, minutes=minutes,
        horizon_minutes=max(float(minutes), settings.horizon_minutes), areas=areas, open_at=open_at,
        amenities=list(amenities), snap_meters=settings.snap_max_meters,
    )
    unknown = None
    if amenities:
        from geo.report import amenity_unknown

        unknown = amenity_unknown(stations)
    served = ServedCoverage(result=result, demand_source=demand.source, areas=areas, amenity_unknown=unknown)
    with cache.lock:
        cache.results[key] = served
        while len(cache.results) > MAX_RESULTS:
            cache.results.popitem(last=False)
    return served


def covered_area_cached(app_state: Any, served: ServedCoverage) -> Any:
    """:func:`geo.coverage.covered_area` of a cached result (computed once per result)."""
    from geo.coverage import covered_area

    cache = service_cache(app_state)
    with cache.lock:
        key = next((k for k, v in cache.results.items() if v is served), None)
        found = cache.covered.get(key) if key is not None else None
    if found is not None:
        return found
    area = covered_area(served.result)
    if key is not None:
        with cache.lock:
            cache.covered[key] = area
            while len(cache.covered) > MAX_RESULTS:
                cache.covered.pop(next(iter(cache.covered)))
    return area


# ------------------------------------------------------------------------------------------ scenarios
#: scenario evaluators kept per app (least recently used dropped first)
MAX_SCENARIOS = 16


class ScenarioCache:
    """Per (scenario, mode, minutes): the :class:`geo.scenario.evaluate.ScenarioEvaluator` of the last
    evaluation and the state of the inputs it was built on (base, registry version, areas)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.evaluators: OrderedDict[tuple[Any, ...], tuple[tuple[Any, ...], Any]] = OrderedDict()


def scenario_cache(app_state: Any) -> ScenarioCache:
    """The app's :class:`ScenarioCache` (made on first use)."""
    with _APP_LOCK:
        caches: dict[str, Any] = app_state.caches
        cache = caches.setdefault("scenarios", ScenarioCache())
    assert isinstance(cache, ScenarioCache)
    return cache


def clear_scenarios(app_state: Any) -> None:
    """Forget the kept scenario evaluations (the next evaluation of each is a full pass)."""
    cache = getattr(app_state, "caches", {}).get("scenarios")
    if isinstance(cache, ScenarioCache):
        with cache.lock:
            cache.evaluators.clear()


@dataclass(frozen=True, eq=False)
class ServedScenario:
    """A scenario's coverage on the served network and demand (``result``: a CoverageResult), how it
    was reached (``step``: a :class:`geo.scenario.evaluate.EvaluationStep`), and the base stations."""

    scenario: Any
    result: Any
    step: Any
    demand_source: str
    areas: Any
    base: Any


def _base_token(session: Any, base: str) -> tuple[Any, ...]:
    """What changes when a scenario's base stations change: the registry version, or the file's stat."""
    if base == "db":
        from geo.db import repository

        return ("db", repository.registry_version(session))
    path = Path(base)
    if not path.is_file():
        raise InputError(f"the base station file of this scenario is missing: {path.name}", field="base")
    stat = path.stat()
    return ("file", str(path.resolve()), stat.st_mtime_ns, stat.st_size)


def scenario_base(session: Any, base: str) -> gpd.GeoDataFrame:
    """The stations a scenario starts from: ``db``, the registry; else the station file the operator
    named with ``yizhan scenario create --base FILE`` (InputError naming ``base`` when it is gone)."""
    if base == "db":
        from geo.db import repository

        return repository.stations_frame(session)
    _base_token(session, base)  # the file is still there
    from geo.stations import read_station_file

    return read_station_file(Path(base)).frame


def scenario_coverage(
    app_state: Any, session: Any, scenario: Any, mode: str, *, minutes: float
) -> ServedScenario:
    """The coverage of ``scenario`` (a :class:`geo.scenario.plan.Scenario`) on the served ``mode``
    network and demand, like ``/coverage``. The evaluator of the last call for the same scenario,
    mode and minutes is kept: when only actions were appended since, only those are applied
    (:mod:`geo.scenario.evaluate`), else it is rebuilt (another base, registry version or areas)."""
    from geo.scenario.evaluate import ScenarioEvaluator

    settings: Settings = app_state.settings
    network = app_state.networks.get(mode)
    if network is None:
        raise InputError(f"no network is loaded for mode {mode!r}", field="mode")
    base_token = _base_token(session, scenario.base)
    areas = served_areas(app_state, session)
    area_key = tuple(sorted(areas["area_code"].astype(str))) if areas is not None else ()
    demand = served_demand(app_state, mode)
    key = (scenario.name, scenario.base, mode, float(minutes))
    state = (base_token, hash(area_key), demand.source)
    cache = scenario_cache(app_state)
    with cache.lock:
        found = cache.evaluators.get(key)
        if found is not None:
            cache.evaluators.move_to_end(key)
    evaluator = found[1] if found is not None and found[0] == state else None
    if evaluator is None:
        evaluator = ScenarioEvaluator(
            network, scenario_base(session, scenario.base), demand.frame, minutes=minutes,
            horizon_minutes=max(float(minutes), settings.horizon_minutes), areas=areas,
            snap_meters=settings.snap_max_meters,
        )
        with cache.lock:
            cache.evaluators[key] = (state, evaluator)
            while len(cache.evaluators) > MAX_SCENARIOS:
                cache.evaluators.popitem(last=False)
    result, step = evaluator.evaluate(scenario)
    return ServedScenario(scenario=scenario, result=result, step=step, demand_source=demand.source,
                          areas=areas, base=evaluator.base)


def station_written(request: Any, session: Any) -> None:
    """After a committed station write, before the route answers: ``/nearest`` takes it in (in this
    thread: the route's own, or the thread pool) so that every later request sees it."""
    index = getattr(request.app.state, "nearest", None)
    if index is not None:
        index.absorb_write(session)
