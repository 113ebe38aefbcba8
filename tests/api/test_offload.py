"""Station files are read in the server's worker process (#15: the GIL stays free for /nearest):
the worker is another process, its domain errors reach the client as they were raised, and a killed
worker is started again without losing the request."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.offload import in_process
from geo.errors import InputError
from geo.stations import read_station_file
from tests.api._support import WRITE

# one station each in two cities other than the bundled sample: the Bund (Shanghai), Wuyi Square (Changsha)
CSV = (
    "名称,经度,纬度,类型\n外滩工会驿站,121.4905,31.2397,工会驿站\n"
    "五一广场爱心驿站,112.9770,28.1960,爱心驿站\n"
)


def worker_pid() -> int:
    return asyncio.run(in_process(os.getpid))


def test_files_are_read_in_another_process(tmp_path: Path) -> None:
    assert worker_pid() != os.getpid()
    path = tmp_path / "two.csv"
    path.write_text(CSV, encoding="utf-8")
    report = asyncio.run(in_process(read_station_file, path, crs="wgs84", source="two"))
    assert report.frame["name"].tolist() == ["外滩工会驿站", "五一广场爱心驿站"]
    assert report.frame.equals(read_station_file(path, crs="wgs84", source="two").frame)
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(b"%PDF")
    with pytest.raises(InputError) as raised:  # the worker's domain error, field and all
        asyncio.run(in_process(read_station_file, bad, crs="wgs84", source="bad"))
    assert raised.value.field == "file"


def test_a_killed_worker_is_started_again(client: TestClient) -> None:
    old = worker_pid()
    os.kill(old, signal.SIGKILL)
    for _ in range(50):  # until the pool notices the death
        try:
            os.kill(old, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    r = client.post("/stations/import", files={"file": ("two.csv", CSV.encode(), "text/csv")}, headers=WRITE)
    assert r.status_code == 201, r.text
    assert r.json()["imported"] == 2
    assert worker_pid() not in (old, os.getpid())


def test_the_worker_ends_with_a_killed_server(tmp_path: Path) -> None:
    """A server killed with SIGKILL leaves no worker behind (it would hold the server's stdout open
    and its memory for ever)."""
    import subprocess
    import sys

    script = (
        "import asyncio, os, sys\n"
        "from api.offload import in_process\n"
        "print(asyncio.run(in_process(os.getpid)), flush=True)\n"
        "sys.stdin.read()\n"
    )
    server = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True, cwd=Path(__file__).resolve().parents[2])  # fmt: skip
    assert server.stdout is not None
    worker = int(server.stdout.readline())
    os.kill(worker, 0)  # alive while the server is
    server.kill()
    server.wait()
    for _ in range(100):
        try:
            os.kill(worker, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    os.kill(worker, signal.SIGKILL)
    pytest.fail("the worker outlived its server by 5 s")


def test_the_worker_ends_with_the_server(database_url: str) -> None:
    """A server that stops stops its worker in its shutdown and releases the pool's semaphores.
    uvicorn ends a graceful SIGTERM shutdown by raising the signal again, so no exit handler runs
    after the app's lifespan: the script does the same. No worker left running, no "leaked
    semaphore" warning from the resource tracker."""
    import subprocess
    import sys

    script = (
        "import asyncio, os, signal\n"
        "from fastapi.testclient import TestClient\n"
        "from api.app import create_app\n"
        "from api.offload import in_process\n"
        "from api.settings import Settings\n"
        f"app = create_app(Settings(database_url={database_url!r}, load_networks=False))\n"
        "with TestClient(app):\n"
        "    print(asyncio.run(in_process(os.getpid)), flush=True)\n"
        "signal.signal(signal.SIGTERM, signal.SIG_DFL)\n"
        "os.kill(os.getpid(), signal.SIGTERM)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[2])  # fmt: skip
    assert done.returncode == -signal.SIGTERM, done.stderr
    worker = int(done.stdout.split()[-1])
    with pytest.raises(ProcessLookupError):
        os.kill(worker, 0)
    assert "leaked" not in done.stderr, done.stderr


def test_ctrl_c_stops_serve_quietly(database_url: str, data_dir: Path) -> None:
    """Ctrl-C in a terminal sends SIGINT to the whole process group, the worker included: the server
    says where it listens, then stops with exit 0, and no traceback comes from its worker."""
    import socket
    import subprocess
    import sys

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "YIZHAN_DATABASE_URL": database_url, "YIZHAN_DATA_DIR": str(data_dir),
           "YIZHAN_LOAD_NETWORKS": "false"}  # fmt: skip
    yizhan = str(Path(sys.executable).parent / "yizhan")
    server = subprocess.Popen([yizhan, "serve", "--port", str(port)], cwd=root, env=env,
                              stderr=subprocess.PIPE, text=True, start_new_session=True)  # fmt: skip
    try:
        for _ in range(300):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code in (200, 503):
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        time.sleep(1.0)  # the worker is up and waiting for work
        os.killpg(server.pid, signal.SIGINT)
        _, err = server.communicate(timeout=60)
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
    assert server.returncode == 0, err
    assert f"http://127.0.0.1:{port}" in err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
