"""The FastAPI application: :func:`create_app` builds it; the lifespan builds the database engine and
loads the travel networks onto ``app.state``. Nothing is built at import time.

Run it with ``yizhan serve`` (uvicorn).
"""

from __future__ import annotations

import gc
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from api.errors import install_error_handlers
from api.settings import Settings, get_settings

logger = logging.getLogger(__name__)

DESCRIPTION = """\
yizhan 驿站: the registry of trade-union worker service stations (工会驿站/户外劳动者服务站点),
15-minute coverage over real street networks, gaps, siting, and the nearest open station for a worker's phone.

Coordinates are WGS-84 unless a `crs` parameter says `gcj02` (Amap/Tencent) or `bd09` (Baidu).
Reads are public; writes need an `X-API-Key` header. Errors are `{"detail": ..., "field": ...}`.
"""


def _load_networks(settings: Settings) -> dict[str, Any]:
    from api.services import load_networks  # one home for the served inputs (anyarea)

    return load_networks(settings)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    from sqlalchemy.orm import sessionmaker

    from api import offload
    from api.nearest_index import NearestIndex
    from geo.db.engine import make_engine

    settings: Settings = app.state.settings
    engine = make_engine(
        settings.database_url, check=False
    )  # the API starts (and answers 503) when the store is down
    app.state.engine = engine
    app.state.sessionmaker = sessionmaker(bind=engine, expire_on_commit=False)
    app.state.networks = await run_in_threadpool(_load_networks, settings) if settings.load_networks else {}
    app.state.nearest = NearestIndex(
        app.state.networks,
        horizon_minutes=settings.horizon_minutes,
        max_k=settings.max_k,
        check_seconds=settings.registry_check_seconds,
    )
    app.state.caches = {}
    offload.warm_up()  # the worker process that reads station files (kept for the process's life)
    # Everything built so far (modules, networks, KD-trees: ~176k objects) lives as long as the
    # app. Move it out of the garbage collector's generations, so that a full collection, when one
    # comes, walks only what requests created since (~19k objects) instead of pausing every
    # request on the event loop for tens of milliseconds (21-93 ms measured at startup).
    gc.collect()
    gc.freeze()
    logger.info("startup: %d objects frozen out of garbage collection", gc.get_freeze_count())
    try:
        yield
    finally:
        gc.unfreeze()  # (a process may start the app again, as the tests do)
        offload.shut_down()
        engine.dispose()


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the yizhan API.

    Parameters
    ----------
    settings
        The settings; default: read from the ``YIZHAN_*`` environment (:class:`api.settings.Settings`).
    """
    from api.routes import coverage, health, maps, nearest, ogc, siting, stations

    settings = settings or get_settings()
    app = FastAPI(
        title="yizhan 驿站 API",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.settings = settings
    install_error_handlers(app)
    # --- hardening (#15): a Content-Security-Policy on every HTML page; the event loop waits at most
    # 0.5 ms (not 5 ms) for the GIL while a worker thread computes (an import, a write)
    from api.security import HtmlSecurityHeaders

    app.add_middleware(HtmlSecurityHeaders)
    sys.setswitchinterval(0.0005)
    app.include_router(health.router)
    app.include_router(stations.router)
    app.include_router(nearest.router)
    app.include_router(coverage.router)
    app.include_router(siting.router)
    app.include_router(ogc.router)
    maps.install(app)
    # station operations: /s/{code}, visits, usage, feedback, standards and stars
    from api.routes import ops

    app.include_router(ops.router)
    # organisations and access (orgs): bootstrap keys checked (and unnamed ones warned of) at start
    from api.routes import audit, orgs
    from geo.orgs.keys import parse_env_keys

    parse_env_keys(settings.api_keys)
    app.include_router(audit.router)
    app.include_router(orgs.router)
    # region (nation-scale coverage): /maps/region
    from api.routes import region as region_routes

    app.include_router(region_routes.router)
    # scenarios (#21): /scenarios and the planner's scenario map /maps/scenarios/{name}
    from api.routes import scenarios as scenario_routes

    app.include_router(scenario_routes.router)
    app.include_router(scenario_routes.maps_router)
    return app
