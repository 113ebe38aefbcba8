"""Load benchmark of ``GET /nearest`` on the Shenzhen Nanshan sample, open loop, loopback only.

What it does
------------
1. Creates a throw-away PostGIS database (server of ``YIZHAN_TEST_DATABASE_URL``, default
   ``postgresql://postgres@127.0.0.1:5432/postgres``), migrates it and stores one station at each
   real host POI of the Nanshan extract (banks, fuel stations, community centres... from
   ``geo.siting.candidates.candidates_from_pois``).
2. Starts ``uvicorn api.app:create_app --factory`` in a subprocess on a free 127.0.0.1 port.
3. Sends ``/nearest`` requests (GCJ-02 points, as phones send them, drawn at random in the Nanshan core
   and kept only if they snap to the walk network) at a fixed rate: request *i* is due at
   ``t0 + i / rate`` whatever happened before (open loop), and its latency is measured from that due
   time, so a slow server cannot hide queueing (no coordinated omission).
4. Prints p50/p90/p99/max latency, errors, the achieved rate and the server's CPU time per request
   (user + system, from ``/proc``) for 100, 200 and 500 requests/s. The client runs on uvloop, as
   the server does, so that it takes as little as possible of the two cores it shares with it.

It also times, in this process and on the same points, the index lookup behind ``/nearest`` against
the reference without precomputation (one Dijkstra from the point per request, then the k best
stations), and prints the ratio.

Target: p99 <= 20 ms at 200 requests/s with zero errors.

Under writes (issue #15): with ``--writes`` it then measures ``/nearest`` at ``--write-rate``
requests/s (default 150) in four windows on the same server: alone (the reference), while station
imports run back to back (``POST /stations/import`` of the trial's file: 3,000 rows at one spot,
100 KB, rejected as a whole), while one ``PATCH /stations/{id}`` of a phone number a second arrives
(each one changes the registry, so ``/nearest`` refreshes the changed row and keeps its tables), and
while one PATCH a second moves a station 10 m further east (a table is derived for each new set of
points; when its slack runs low, one is rebuilt in the background). It
prints p50/p99/max per window and the ratio of each p99 to the one without writes. Target: p99 <=
20 ms in every window. With ``--filters`` the requests take amenity filters in turn (each filter
in use has its own table, which every write must bring up to date). Then, in-process and in CPU time
of the thread, the incremental refresh after one PATCH against reading every row, and a table
derived after one station closed against one built from scratch, with their ratios.

Usage: ``.venv/bin/python bench/api_load.py [--seconds 10] [--rates 100,200,500] [--k 3]
[--writes] [--write-rate 150] [--write-only] [--filters none,drinking_water,charging]``
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _common import db_server  # noqa: E402

from api.settings import NANSHAN_CORE, Settings  # noqa: E402
from geo.config import data_dir, sqlalchemy_url  # noqa: E402
from geo.db.setup_db import temporary_database  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def seed_stations(url: str, pois: Path) -> int:
    """One open station per host POI of the Nanshan extract (real places; amenities/hours varied)."""
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from geo.db import repository
    from geo.siting.candidates import candidates_from_pois

    hosts = candidates_from_pois(pois)
    amenity_sets = (["drinking_water", "toilet"], ["charging"], ["drinking_water", "charging", "microwave"])
    hours = ("24/7", "Mo-Su 08:00-22:00", "Mo-Fr 09:00-18:00")
    eng = create_engine(sqlalchemy_url(url))
    with Session(eng) as session:
        for i, row in enumerate(hosts.itertuples(index=False)):
            repository.create_station(
                session,
                {
                    "name": f"{row.name}驿站",
                    "lon": row.geometry.x,
                    "lat": row.geometry.y,
                    "kind": "union_station",
                    "host_org": row.name,
                    "amenities": amenity_sets[i % 3],
                    "opening_hours": hours[i % 3],
                    "external_id": str(row.candidate_id),
                    "source": "bench-hosts",
                },
                actor="bench",
            )
    eng.dispose()
    return len(hosts)


def query_points(
    settings: Settings, n: int, seed: int = 7
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``n`` WGS-84 points in the Nanshan core that snap to the walk network, and their GCJ-02 form."""
    from geo.crs import wgs84_to_gcj02
    from geo.network import load_network

    net = load_network(settings.networks["walk"], mode="walk", clip=settings.network_clip)
    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = NANSHAN_CORE
    lon = rng.uniform(minx, maxx, 4 * n)
    lat = rng.uniform(miny, maxy, 4 * n)
    ok = net.snap(lon, lat, max_meters=settings.snap_max_meters).snapped
    lon, lat = lon[ok][:n], lat[ok][:n]
    glon, glat = wgs84_to_gcj02(lon, lat)
    return lon, lat, np.asarray(glon), np.asarray(glat)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` and all its descendants (Linux ``/proc``)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def run_loop(coro: Any) -> Any:
    """Run the client on uvloop when available (as the server does): less client CPU per request on
    the two cores the client shares with the server."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


@contextmanager
def server(url: str, workers: int = 1) -> Iterator[tuple[str, int]]:
    port = free_port()
    env = {**os.environ, "YIZHAN_DATABASE_URL": url, "YIZHAN_DATA_DIR": str(data_dir())}
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "api.app:create_app",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
        "--workers",
        str(workers),
    ]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("uvicorn did not become healthy")
            time.sleep(0.2)
        yield base, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)


class _Conn:
    """One HTTP/1.1 keep-alive connection to the server (a lean client: the load generator shares two
    cores with the server and PostgreSQL, so it must cost far less per request than the server)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def request(self, request: bytes) -> tuple[int, bytes]:
        return await self.get(request)

    async def get(self, request: bytes) -> tuple[int, bytes]:
        self.writer.write(request)
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("connection closed")
        status = int(status_line.split()[1])
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        body = await self.reader.readexactly(length)
        return status, body


def filter_query(spec: str) -> str:
    """The query string of one ``--filters`` entry: ``none``, else amenity words joined by ``+``
    (``open`` asks for stations open now), e.g. ``drinking_water+toilet+open``."""
    words = [w for w in spec.split("+") if w and w != "none"]
    return "".join("&open_now=true" if w == "open" else f"&amenity={w}" for w in words)


async def open_loop(
    host: str, port: int, glon: np.ndarray, glat: np.ndarray, *, rate: float, seconds: float, k: int,
    filters: Sequence[str] = ("none",),
) -> dict[str, float]:
    """Send ``rate * seconds`` requests, request i due at t0 + i / rate; latency from the due time.
    Request i asks from point i and with filter i (both taken in turn): a mix of what workers ask."""
    n = int(rate * seconds)
    asks = [filter_query(f) for f in filters]
    requests = [
        (
            f"GET /nearest?lon={glon[j]:.7f}&lat={glat[j]:.7f}&crs=gcj02&k={k}&mode=walk"
            f"{asks[j % len(asks)]} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n"
        ).encode()
        for j in range(glon.size)
    ]
    latencies = np.full(n, np.nan)
    errors = 0
    first_error: list[str] = []
    empty = 0
    idle: list[_Conn] = []
    opened: list[_Conn] = []

    async def one(i: int, due: float) -> None:
        nonlocal errors, empty
        conn = idle.pop() if idle else None
        try:
            request = requests[i % len(requests)]
            if conn is not None:
                try:
                    status, body = await asyncio.wait_for(conn.get(request), timeout=5.0)
                except ConnectionError:
                    # the server closed this idle keep-alive connection (uvicorn's keep-alive timeout)
                    # before the request reached it: retry the GET once on a new connection, as
                    # browsers and HTTP client libraries do; the latency still counts from the due time
                    conn.writer.close()
                    conn = None
            if conn is None:
                reader, writer = await asyncio.open_connection(host, port)
                conn = _Conn(reader, writer)
                opened.append(conn)
                status, body = await asyncio.wait_for(conn.get(request), timeout=5.0)
            if status != 200:
                errors += 1
                if not first_error:
                    first_error.append(f"HTTP {status}: {body[:200]!r}")
            elif b'"results":[]' in body:
                empty += 1  # a point on a network piece with no station within the horizon: a valid answer
            idle.append(conn)
        except (TimeoutError, OSError, ConnectionError, ValueError, IndexError) as exc:
            errors += 1
            if not first_error:
                first_error.append(f"{type(exc).__name__}: {exc}")
        latencies[i] = time.perf_counter() - due

    stall = [0.0]  # the client's own longest event-loop stall: latency the server did not cause

    async def watch_client() -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            stall[0] = max(stall[0], now - last - 0.005)
            last = now

    watcher = asyncio.create_task(watch_client())
    start = time.perf_counter() + 0.05
    tasks = []
    for i in range(n):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, due)))
    await asyncio.gather(*tasks)
    watcher.cancel()
    elapsed = time.perf_counter() - start
    for conn in opened:
        conn.writer.close()
    ms = latencies * 1000.0
    if first_error:
        print(f"  first error at {rate:.0f}/s: {first_error[0]}", flush=True)
    return {
        "rate": rate,
        "requests": float(n),
        "achieved_rps": n / elapsed,
        "p50_ms": float(np.nanpercentile(ms, 50)),
        "p90_ms": float(np.nanpercentile(ms, 90)),
        "p99_ms": float(np.nanpercentile(ms, 99)),
        "max_ms": float(np.nanmax(ms)),
        "errors": float(errors),
        "empty": float(empty),
        "connections": float(len(opened)),
        "client_stall_ms": stall[0] * 1000.0,
    }


API_KEY = "bench-writer-key"
#: numbers the PATCHes of the whole run: a move goes to a point no earlier window used (``i % 40``
#: steps, more than the index's 32 cached tables), so no window is helped by tables an earlier one left
WRITES = itertools.count()


def one_spot_csv(rows: int = 3000) -> bytes:
    """The trial's import: ``rows`` stations with distinct names at one spot (about 100 KB)."""
    lines = ["编号,名称,经度,纬度,类型"]
    lines += [f"S{i},第{i}号驿站,113.9365,22.5405,工会驿站" for i in range(rows)]
    return ("\n".join(lines) + "\n").encode()


def import_request(host: str, port: int, data: bytes) -> bytes:
    boundary = "yizhanbenchboundary"
    body = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"one_spot.csv\"\r\n"
        "Content-Type: text/csv\r\n\r\n"
    ).encode() + data + f"\r\n--{boundary}--\r\n".encode()
    head = (
        "POST /stations/import?source=bench-import HTTP/1.1\r\n"
        f"Host: {host}:{port}\r\nX-API-Key: {API_KEY}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def patch_request(
    host: str, port: int, station_id: int, i: int, *, move_from: tuple[float, float] | None = None
) -> bytes:
    """A PATCH of the station's phone, or (``move_from``) of its point: ``i % 40`` times 10 m east
    (every move a new set of station points, so a table is derived, not found in the cache)."""
    if move_from is None:
        body = f'{{"type": "Feature", "properties": {{"phone": "0755-{i:08d}"}}}}'.encode()
    else:
        lon = move_from[0] + 0.0001 * (i % 40)
        body = (f'{{"type": "Feature", "geometry": {{"type": "Point", "coordinates": [{lon:.7f}, '
                f'{move_from[1]:.7f}]}}}}').encode()
    head = (
        f"PATCH /stations/{station_id} HTTP/1.1\r\nHost: {host}:{port}\r\nX-API-Key: {API_KEY}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def writer(kind: str, host: str, port: int, seconds: float, station_id: int,
                 point: tuple[float, float] = (0.0, 0.0)) -> dict[str, float]:
    """Writes of one kind for ``seconds``: imports back to back, or one PATCH a second (``patch``: a
    phone number; ``move``: the station's point, 10 m further each time)."""
    reader, writer_ = await asyncio.open_connection(host, port)
    conn = _Conn(reader, writer_)
    data = one_spot_csv()
    end = time.perf_counter() + seconds
    done, statuses, took = 0, [], []
    while time.perf_counter() < end:
        t0 = time.perf_counter()
        if kind == "import":
            request = import_request(host, port, data)
        else:
            request = patch_request(host, port, station_id, next(WRITES),
                                    move_from=point if kind == "move" else None)  # fmt: skip
        status, _ = await asyncio.wait_for(conn.request(request), timeout=120.0)
        took.append(time.perf_counter() - t0)
        statuses.append(status)
        done += 1
        if kind in ("patch", "move"):
            await asyncio.sleep(max(0.0, 1.0 - (time.perf_counter() - t0)))
    writer_.close()
    return {"writes": float(done), "ok": float(sum(s in (200, 201, 422) for s in statuses)),
            "mean_s": float(np.mean(took)) if took else float("nan")}  # fmt: skip


async def load_with_writes(
    kind: str, host: str, port: int, glon: np.ndarray, glat: np.ndarray, *, rate: float, seconds: float,
    k: int, station_id: int, point: tuple[float, float], filters: Sequence[str] = ("none",),
) -> tuple[dict[str, float], dict[str, float] | None]:
    load = open_loop(host, port, glon, glat, rate=rate, seconds=seconds, k=k, filters=filters)
    if kind == "none":
        return await load, None
    res, wrote = await asyncio.gather(load, writer(kind, host, port, seconds, station_id, point))
    return res, wrote


WINDOWS = {"none": "none (reference)", "import": "imports back to back", "patch": "one PATCH a second",
           "move": "one move a second"}


def quiet_client() -> None:
    """Move this process's long-lived objects (networks, station frames) out of the garbage
    collector's generations, as the server does at startup: a full collection of them stalled the
    client's event loop for ~140 ms once per run, and every request due meanwhile counted it as
    server latency (the ``client stall ms`` column shows what is left)."""
    gc.collect()
    gc.freeze()


def writes_table(
    url: str, glon: np.ndarray, glat: np.ndarray, *, rate: float, seconds: float, k: int,
    windows: tuple[str, ...] = tuple(WINDOWS), repeats: int = 1, filters: Sequence[str] = ("none",),
) -> None:
    """/nearest alone, during imports, during one PATCH a second, during one move a second (#15); the
    windows in turn, ``repeats`` times (the machine is shared: repeats show the spread). Requests
    take ``filters`` in turn (each filter in use has its own table, which a write must update)."""
    from sqlalchemy import create_engine, text

    eng = create_engine(sqlalchemy_url(url))
    with eng.connect() as conn:
        station_id, lon, lat = conn.execute(text(
            "SELECT id, ST_X(geom), ST_Y(geom) FROM stations ORDER BY id LIMIT 1")).one()  # fmt: skip
    eng.dispose()
    point = (float(lon), float(lat))
    os.environ["YIZHAN_API_KEYS"] = API_KEY
    with server(url, 1) as (base, _pid):
        host, port = base.removeprefix("http://").split(":")
        run_loop(open_loop(host, int(port), glon[:100], glat[:100], rate=50, seconds=2, k=k,
                           filters=filters))
        for kind in ("import", "patch", "move"):  # warm-up: the first write of each kind imports modules
            run_loop(writer(kind, host, int(port), 0.1, station_id, point))
        quiet_client()
        print(f"/nearest at {rate:.0f}/s for {seconds:.0f} s per window, 1 uvicorn worker, filters "
              f"{', '.join(filters)} in turn, under writes:")
        print(f"{'writes':>22} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} {'errors':>6} {'writes done':>11} "
              f"{'s/write':>8} {'p99 / alone':>11} {'client stall ms':>15}")  # fmt: skip
        alone = float("nan")
        for kind in ["none", *(w for w in windows if w != "none")] * repeats:
            label = WINDOWS[kind]
            res, wrote = run_loop(load_with_writes(kind, host, int(port), glon, glat, rate=rate,
                                                   seconds=seconds, k=k, station_id=station_id,
                                                   point=point, filters=filters))  # fmt: skip
            alone = res["p99_ms"] if kind == "none" else alone
            done = f"{wrote['ok']:.0f}/{wrote['writes']:.0f}" if wrote else "-"
            per = f"{wrote['mean_s']:.2f}" if wrote else "-"
            print(f"{label:>22} {res['p50_ms']:>7.2f} {res['p99_ms']:>7.2f} {res['max_ms']:>7.1f} "
                  f"{res['errors']:>6.0f} {done:>11} {per:>8} {res['p99_ms'] / alone:>11.2f} "
                  f"{res['client_stall_ms']:>15.1f}")  # fmt: skip
            time.sleep(1.0)


def seed_at_nodes(url: str, settings: Settings, n: int, seed: int = 15) -> None:
    """``n`` open stations at distinct random nodes of the walk network (a county-sized registry), in
    one import."""
    import pandas as pd
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from geo.db import repository
    from geo.network import load_network

    net = load_network(settings.networks["walk"], mode="walk", clip=settings.network_clip)
    nodes = np.random.default_rng(seed).choice(net.n_nodes, size=min(n, net.n_nodes), replace=False)
    frame = pd.DataFrame({
        "external_id": [f"node-{i}" for i in nodes], "name": [f"节点{i}号驿站" for i in nodes],
        "lon": net.lon[nodes] + 1e-5, "lat": net.lat[nodes], "kind": "union_station", "opening_hours": "24/7",
    })  # fmt: skip
    eng = create_engine(sqlalchemy_url(url))
    with Session(eng) as session:
        repository.import_stations(session, frame, source="bench-nodes", actor="bench", skip_invalid=True)
    eng.dispose()


def refresh_vs_reload(url: str, settings: Settings, repeats: int = 20) -> None:
    """In-process, CPU time of this thread: after one PATCH, the index's incremental refresh (only the
    changed row) against a full reload of the stations, and, after one station closed, the table
    derived from the cached one against a build from scratch (what /nearest did before, #15)."""
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from api.nearest_index import NearestIndex, build_table, derive_table, snapshot_of, table_diff
    from geo.db import repository
    from geo.network import load_network

    net = load_network(settings.networks["walk"], mode="walk", clip=settings.network_clip)
    index = NearestIndex({"walk": net}, horizon_minutes=settings.horizon_minutes, max_k=settings.max_k)
    eng = create_engine(sqlalchemy_url(url))
    t_inc, t_full, t_derive, t_build = [], [], [], []
    with Session(eng) as session:
        sid = int(repository.station_versions(session)[0][0])
        index.query(session, "walk", float(net.lon[0]), float(net.lat[0]), k=3)
        for i in range(repeats):
            repository.update_station(session, sid, {"phone": f"0755-{i:08d}"}, actor="bench", partial=True)
            index.mark_stale()
            t0 = time.thread_time()
            snap = index.snapshot(session)
            t_inc.append(time.thread_time() - t0)
            t0 = time.thread_time()
            snapshot_of(repository.registry_version(session), repository.station_rows(session))
            t_full.append(time.thread_time() - t0)
            positions = index.matching(snap)
            table = index.table("walk", snap, positions)
            fewer = positions[positions != positions[i % positions.size]]
            ids, lon, lat = snap.ids[fewer], snap.lon[fewer], snap.lat[fewer]
            t0 = time.thread_time()
            diff = table_diff(table, ids, lon, lat)
            derive_table(net, table, diff, ids, lon, lat, horizon_minutes=index.horizon_minutes)
            t_derive.append(time.thread_time() - t0)
            t0 = time.thread_time()
            build_table(net, ids, lon, lat, width=index.width, horizon_minutes=index.horizon_minutes)
            t_build.append(time.thread_time() - t0)
    eng.dispose()
    ms = {name: 1000.0 * float(np.median(v)) for name, v in
          (("inc", t_inc), ("full", t_full), ("derive", t_derive), ("build", t_build))}  # fmt: skip
    print(f"in-process CPU ms (median of {repeats}), {snap.ids.size} stations: after one PATCH, incremental "
          f"refresh {ms['inc']:.2f} vs reading every row {ms['full']:.2f} "
          f"(ratio {ms['full'] / ms['inc']:.1f}x); "
          f"after one station closed, derived table {ms['derive']:.2f} vs built {ms['build']:.2f} "
          f"(ratio {ms['build'] / ms['derive']:.1f}x)")


def lookup_vs_reference(url: str, settings: Settings, lon: np.ndarray, lat: np.ndarray, k: int) -> None:
    """In-process: NearestIndex.query (precomputed) vs one Dijkstra per request (no precomputation)."""
    from scipy.sparse.csgraph import dijkstra
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from api.nearest_index import NearestIndex
    from geo.coverage import select_stations
    from geo.db import repository
    from geo.network import load_network

    net = load_network(settings.networks["walk"], mode="walk", clip=settings.network_clip)
    index = NearestIndex({"walk": net}, horizon_minutes=settings.horizon_minutes, max_k=settings.max_k)
    eng = create_engine(sqlalchemy_url(url))
    with Session(eng) as session:
        index.query(session, "walk", float(lon[0]), float(lat[0]), k=k)  # builds the table
        stations = select_stations(repository.stations_frame(session))
        m = min(200, lon.size)
        t0 = time.perf_counter()
        for _ in range(m):
            snap = index.snapshot(session)
        t_version = (time.perf_counter() - t0) / m
        t0 = time.perf_counter()
        ours = [index.query(snap, "walk", float(lon[i]), float(lat[i]), k=k)[1] for i in range(m)]
        t_ours = (time.perf_counter() - t0) / m
    eng.dispose()
    sx, sy = stations.geometry.x.to_numpy(), stations.geometry.y.to_numpy()
    st_node, st_m = net.snap(sx, sy).entries()  # edge snapping: a station is reached from its edge's ends
    t0 = time.perf_counter()
    agree = 0
    for i in range(m):
        p_node, p_m = net.snap(lon[i], lat[i]).exits()
        d = np.full(net.n_nodes, np.inf)
        for node, meters in zip(p_node[0].tolist(), p_m[0].tolist(), strict=True):
            if node >= 0:
                d = np.minimum(d, dijkstra(net.csr(), directed=True, indices=node) + meters)
        total = np.where(st_node >= 0, d[np.maximum(st_node, 0)] + st_m, np.inf).min(axis=1)
        best = np.argsort(total, kind="stable")[:k]
        ref_minutes = total[best] / net.meters_per_minute
        ours_minutes = np.array([h.minutes for h in ours[i]])
        agree += int(
            np.allclose(np.sort(ref_minutes[np.isfinite(ref_minutes)])[: ours_minutes.size], ours_minutes)
        )
    t_ref = (time.perf_counter() - t0) / m
    print(
        f"in-process, {m} points, k={k}: snap + table lookup + paths {t_ours * 1000:.3f} ms/query; "
        f"reference (one Dijkstra per query, no precomputation) {t_ref * 1000:.3f} ms/query; "
        f"ratio {t_ref / t_ours:.1f}x; registry_version check {t_version * 1000:.3f} ms/query; "
        f"minutes agree on {agree}/{m}"
    )


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the clean-up (drop the database) on kill
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="duration per rate (bounded to 60 s)")
    parser.add_argument("--rates", default="100,200,500", help="requests per second, comma-separated")
    parser.add_argument("--k", type=int, default=3)
    parser.add_argument("--workers", default="1", help="uvicorn worker processes to try, comma-separated")
    parser.add_argument("--writes", action="store_true", help="also measure /nearest under writes")
    parser.add_argument("--write-rate", type=float, default=150.0, help="/nearest rate under writes")
    parser.add_argument("--write-only", action="store_true", help="only the under-writes windows")
    parser.add_argument("--windows", default=",".join(WINDOWS),
                        help=f"under-writes windows, comma-separated, of {', '.join(WINDOWS)}")
    parser.add_argument("--repeats", type=int, default=1, help="times the under-writes windows run")
    parser.add_argument("--filters", default="none",
                        help="amenity filters the requests take in turn, comma-separated: none or words "
                             "joined by + (open: open now), e.g. none,drinking_water,charging,toilet+open")
    args = parser.parse_args()
    seconds = min(max(args.seconds, 1.0), 60.0)
    rates = [float(r) for r in args.rates.split(",")]
    filters = [f.strip() for f in args.filters.split(",") if f.strip()] or ["none"]
    settings = Settings()
    with temporary_database(db_server(), prefix="yizhan_bench") as url:
        n_st = seed_stations(url, settings.demand_pois or Path())
        lon, lat, glon, glat = query_points(settings, 2000)
        print(
            f"{n_st} stations at real host POIs; {lon.size} query points in the Nanshan core "
            "(GCJ-02 requests)"
        )
        if args.writes or args.write_only:
            windows = tuple(w for w in args.windows.split(",") if w)
            unknown = sorted(set(windows) - set(WINDOWS))
            if unknown:
                raise SystemExit(f"--windows: unknown window {unknown[0]!r} (give {', '.join(WINDOWS)})")
            writes_table(url, glon, glat, rate=args.write_rate, seconds=seconds, k=args.k, windows=windows,
                         repeats=max(1, args.repeats), filters=filters)
            refresh_vs_reload(url, settings)
            with temporary_database(db_server(), prefix="yizhan_bench") as big:
                seed_at_nodes(big, settings, 3000)
                refresh_vs_reload(big, settings)
        if args.write_only:
            return
        lookup_vs_reference(url, settings, lon, lat, args.k)
        for workers in [int(w) for w in args.workers.split(",")]:
            with server(url, workers) as (base, pid):
                host, port = base.removeprefix("http://").split(":")
                # warm-up: every worker builds its table
                run_loop(open_loop(host, int(port), glon[:100], glat[:100], rate=50, seconds=2, k=args.k,
                                   filters=filters))
                quiet_client()
                print(f"uvicorn workers: {workers}")
                print(
                    f"{'rate/s':>7} {'requests':>8} {'achieved':>8} {'p50 ms':>7} {'p90 ms':>7} "
                    f"{'p99 ms':>7} {'max ms':>7} {'errors':>6} {'empty':>5} {'conns':>5} "
                    f"{'server CPU ms/req':>17}"
                )
                for rate in rates:
                    cpu0 = cpu_seconds(pid)
                    load = open_loop(host, int(port), glon, glat, rate=rate, seconds=seconds, k=args.k,
                                     filters=filters)
                    res = run_loop(load)
                    cpu_ms = (cpu_seconds(pid) - cpu0) * 1000.0 / res["requests"]
                    print(
                        f"{res['rate']:>7.0f} {res['requests']:>8.0f} {res['achieved_rps']:>8.1f} "
                        f"{res['p50_ms']:>7.2f} {res['p90_ms']:>7.2f} {res['p99_ms']:>7.2f} "
                        f"{res['max_ms']:>7.1f} {res['errors']:>6.0f} {res['empty']:>5.0f} "
                        f"{res['connections']:>5.0f} {cpu_ms:>17.2f}"
                    )
                    time.sleep(1.0)


if __name__ == "__main__":
    main()
