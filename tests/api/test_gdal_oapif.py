"""GDAL's OAPIF driver reads the registry through /ogc from a real uvicorn server (committed rows)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from geo.db import repository

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.fixture()
def server(database_url: str, data_dir: Path) -> Iterator[str]:
    port = _free_port()
    env = {
        **os.environ,
        "YIZHAN_DATABASE_URL": database_url,
        "YIZHAN_DATA_DIR": str(data_dir),
        "YIZHAN_LOAD_NETWORKS": "false",
    }
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
    ]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/ogc", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                out = proc.stdout.read().decode() if proc.stdout else ""
                pytest.fail(f"uvicorn did not start: {out}")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _ogrinfo(*args: str) -> str:
    run = subprocess.run(["ogrinfo", *args], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    return run.stdout


def test_ogrinfo_reads_stations(clean_store: Engine, server: str) -> None:
    with Session(clean_store) as session:
        for i in range(23):
            repository.create_station(
                session,
                {
                    "name": f"GDAL驿站{i}",
                    "lon": 113.925 + 0.0015 * i,
                    "lat": 22.54 + 0.0005 * i,
                    "kind": "union_station",
                    "amenities": ["toilet"],
                },
                actor="test-gdal",
            )
    layers = _ogrinfo("-ro", f"OAPIF:{server}/ogc")
    assert re.search(r"\bstations\b", layers) and re.search(r"\bareas\b", layers)
    summary = _ogrinfo("-ro", "-so", f"OAPIF:{server}/ogc", "stations")
    assert re.search(r"Feature Count: 23\b", summary), summary
    assert "Point" in summary
    full = _ogrinfo("-ro", "-q", f"OAPIF:{server}/ogc", "stations", "-where", "name = 'GDAL驿站22'")
    assert "GDAL驿站22" in full
    assert "POINT (113.958 22.551)" in full
