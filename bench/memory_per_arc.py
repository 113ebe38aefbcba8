"""Benchmark: memory per arc of the commands on a tiled ≥ 5 M-arc network, against the cache file.

Issue #16: "Commands hold ~390 bytes per arc today against ~26 bytes per arc in the cache: goal
≤ 100 B/arc, so a 24 GB machine holds a province's network." What it does, in one run:

1. builds (or reuses from ``--workdir``) the Shenzhen Nanshan walk network (core clip) tiled
   ``--tiles`` × ``--tiles`` (18 × 18: 5.1 M arcs, :func:`_common.tile_network`) and writes it as
   ``yizhan network build`` does (``save_network(derived=True)``: the network plus its stored search
   structures and snapping index; a reused file of an older layout is written again), with a
   station CSV (200 stations) and a point demand CSV (5,000 points);
2. runs ``yizhan coverage`` (and ``yizhan gaps``) on it as fresh processes and reads each one's peak
   RSS (``getrusage(RUSAGE_CHILDREN).ru_maxrss`` of a wrapper that runs only that command) and its
   peak anonymous RSS (polled: the memory the process owns, without the page cache of the network
   file it maps); then runs it again inside a memory cgroup capped at the baseline's peak RSS
   + 100 B/arc (own memory and the page cache it maps charged together, no swap) and checks that it
   finishes with the same output, printing how much slower it was: peak RSS alone overstates what a
   command needs, as the kernel maps the cached neighbours of every touched page (fault-around), and
   those clean pages are given back under pressure;
3. runs the baseline in the same way: a fresh interpreter importing the modules the command imports,
   no network;
4. prints (peak − baseline) / arcs for every command against the reference: the bytes per arc of the
   network's own arrays in the file (``node_id``, ``lon``, ``lat``, CSR, lengths, components), and the
   whole file's bytes per arc.

Run: ``.venv/bin/python bench/memory_per_arc.py [--tiles 18] [--workdir DIR]`` (a temporary
directory unless ``--workdir`` is given; with it the network is built once and reused).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import SHENZHEN_CORE, print_table, shenzhen_osm, tile_network

from geo import _contract
from geo.network import DERIVED_FORMAT, load_network, read_network_npz, save_network
from geo.region.synthetic import station_points

ROOT = Path(__file__).resolve().parents[1]
YIZHAN = str(Path(sys.executable).with_name("yizhan"))
GOAL_B_PER_ARC = 100.0
NETWORK_ARRAYS = ("node_id", "lon", "lat", "indptr", "indices", "length_m", "component", "component_sizes")
IMPORTS = (
    "import api.cli, api.cli.coverage, api.cli.inputs, geo.coverage, geo.demand, geo.network, geo.gaps, "
    "geo.stations, geo.report, pyogrio, h3"
)
#: runs one command; prints the largest resident set of its children (kB, ``getrusage``: memory of
#: its own plus pages of mapped files), the largest anonymous resident set seen by polling
#: /proc/PID/status every 10 ms (kB: memory of its own, not the page cache of the network file the
#: command maps), and its wall seconds
PEAK = (
    "import resource, subprocess, sys, time\n"
    "t0 = time.perf_counter()\n"
    "proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)\n"
    "anon = 0\n"
    "while proc.poll() is None:\n"
    "    try:\n"
    "        with open(f'/proc/{proc.pid}/status') as fh:\n"
    "            for line in fh:\n"
    "                if line.startswith('RssAnon:'):\n"
    "                    anon = max(anon, int(line.split()[1]))\n"
    "    except OSError:\n"
    "        pass\n"
    "    time.sleep(0.01)\n"
    "err = proc.stderr.read()\n"
    "t = time.perf_counter() - t0\n"
    "if proc.returncode:\n"
    "    sys.exit(err[-800:])\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, anon, t)\n"
)


def prepare(workdir: Path, tiles: int) -> dict[str, Path]:
    """The tiled network (``save_network(derived=True)``), stations and demand, built once per workdir."""
    npz = workdir / f"tiled{tiles}-walk.npz"
    stations = workdir / f"tiled{tiles}-stations.csv"
    demand = workdir / f"tiled{tiles}-demand.csv"
    if npz.exists() and not _current(npz):
        t0 = time.perf_counter()
        save_network(read_network_npz(npz), npz, derived=True)
        print(
            f"{npz.name}: written again in the current layout ({time.perf_counter() - t0:.1f} s)", flush=True
        )
    if not (npz.exists() and stations.exists() and demand.exists()):
        t0 = time.perf_counter()
        base = load_network(shenzhen_osm(), mode="walk", clip=SHENZHEN_CORE, cache_dir=workdir / "cache")
        big = tile_network(base, tiles, tiles)
        print(f"tiled {tiles}x{tiles}: {big.n_nodes:,} nodes, {big.n_arcs:,} arcs "
              f"({time.perf_counter() - t0:.1f} s)", flush=True)  # fmt: skip
        t0 = time.perf_counter()
        save_network(big, npz, derived=True)
        print(f"saved with its search structures in {time.perf_counter() - t0:.1f} s", flush=True)
        lon, lat = station_points(big, 200, seed=1)
        pd.DataFrame({"编号": [f"S{i}" for i in range(lon.size)], "名称": [f"站{i}" for i in range(lon.size)],
                      "经度": lon.round(7), "纬度": lat.round(7), "类型": "outdoor_worker_station",
                      "状态": "open"}).to_csv(stations, index=False, encoding="utf-8-sig")  # fmt: skip
        lon, lat = station_points(big, 5000, seed=2)
        pd.DataFrame({"lon": lon.round(7), "lat": lat.round(7), "weight": 1.0}).to_csv(demand, index=False)
    return {"npz": npz, "stations": stations, "demand": demand}


def _current(npz: Path) -> bool:
    """True when the file's stored structures have the layout this version reads."""
    with np.load(npz) as z:
        derived = json.loads(str(z["meta"])).get("derived") or {}
    return (
        derived.get("format") == DERIVED_FORMAT
        and derived.get("contract_format") == _contract.STATE_FORMAT
        and "snap" in derived
    )


def peak_rss(cmd: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """Peak resident set and peak anonymous resident set (bytes), and wall seconds, of one fresh
    process running ``cmd``."""
    out = subprocess.run([sys.executable, "-c", PEAK, *cmd], env=env, cwd=ROOT, capture_output=True,
                         text=True, check=False)  # fmt: skip
    if out.returncode:
        raise SystemExit(f"{' '.join(cmd[:2])} failed: {out.stderr.strip()[-800:]}")
    kb, anon_kb, secs = out.stdout.split()
    return float(kb) * 1024.0, float(anon_kb) * 1024.0, float(secs)


def file_bytes(npz: Path) -> tuple[int, int]:
    """Bytes of the network's own arrays in the file, and of the whole file."""
    with zipfile.ZipFile(npz) as zf:
        own = sum(zf.getinfo(f"{k}.npy").file_size for k in NETWORK_ARRAYS)
    return own, npz.stat().st_size


def memory_cgroup() -> Path | None:
    """A new memory cgroup under this process's own (cgroup v1 or v2), or None where none can be
    made (no permission, no memory controller)."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, rel = line.split(":", 2)
        v1 = "memory" in controllers.split(",")
        if v1 or (controllers == "" and Path("/sys/fs/cgroup/cgroup.controllers").exists()):
            base = Path("/sys/fs/cgroup/memory" if v1 else "/sys/fs/cgroup") / rel.lstrip("/")
            child = base / f"yizhan-bench-{os.getpid()}"
            try:
                child.mkdir(exist_ok=True)
                (child / ("memory.limit_in_bytes" if v1 else "memory.max")).write_text("-1" if v1 else "max")
            except OSError:
                return None
            return child
    return None


def capped_run(
    cmd: list[str], env: dict[str, str], group: Path, limit_bytes: int, npz: Path
) -> tuple[str, float]:
    """Run ``cmd`` inside ``group`` limited to ``limit_bytes`` (own memory and page cache together,
    no swap on these machines); the network file is first dropped from the page cache so that the
    pages the command maps are charged to it. Returns its stdout and wall seconds."""
    v1 = (group / "memory.limit_in_bytes").exists()
    (group / ("memory.limit_in_bytes" if v1 else "memory.max")).write_text(str(int(limit_bytes)))
    fd = os.open(npz, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
    t0 = time.perf_counter()
    out = subprocess.run(["sh", "-c", f'echo $$ > {group / "cgroup.procs"}; exec "$@"', "sh", *cmd], env=env,
                         cwd=ROOT, capture_output=True, text=True, check=False)  # fmt: skip
    secs = time.perf_counter() - t0
    if out.returncode:
        reason = out.stderr.strip()[-400:]
        raise SystemExit(f"{' '.join(cmd[:2])} failed under {limit_bytes / 1e6:.0f} MB: {reason}")
    return out.stdout, secs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tiles", type=int, default=18, help="tiles per side (18: ~5.2 M arcs)")
    ap.add_argument("--workdir", type=Path, default=None, help="reuse the network built here")
    ap.add_argument("--no-gaps", action="store_true", help="measure yizhan coverage only")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = args.workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        files = prepare(work, args.tiles)
        with np.load(files["npz"]) as z:
            n_arcs = int(z["indices"].size)
            n_nodes = int(z["node_id"].size)
            derived = "derived" in json.loads(str(z["meta"]))
        env = {**os.environ, "PYTHONPATH": str(ROOT), "YIZHAN_CACHE_DIR": str(work / "cache")}
        common = ["--network", str(files["npz"]), "--stations", str(files["stations"]), "--demand",
                  str(files["demand"]), "--mode", "walk", "--minutes", "15"]  # fmt: skip
        commands = [("yizhan coverage", [YIZHAN, "coverage", *common, "--json"])]
        if not args.no_gaps:
            commands.append(("yizhan gaps", [YIZHAN, "gaps", *common, "--top", "10", "--json"]))
        base_rss, base_anon, base_s = peak_rss([sys.executable, "-c", IMPORTS], env)
        own, whole = file_bytes(files["npz"])
        rows: list[list[object]] = [
            ["baseline: imports, no network", f"{base_rss / 1e6:,.0f}", f"{base_anon / 1e6:,.0f}", base_s,
             "-", "-", "-"],
        ]  # fmt: skip
        group = memory_cgroup()
        cap = base_rss + GOAL_B_PER_ARC * n_arcs
        capped: list[list[object]] = []
        for name, cmd in commands:
            rss, anon, secs = peak_rss(cmd, env)
            per_arc = (rss - base_rss) / n_arcs
            anon_per_arc = (anon - base_anon) / n_arcs
            rows.append([name, f"{rss / 1e6:,.0f}", f"{anon / 1e6:,.0f}", secs, f"{per_arc:.1f}",
                         f"{anon_per_arc:.1f}", f"{per_arc / (own / n_arcs):.2f}"])  # fmt: skip
            if group is not None:
                free = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True,
                                      check=True).stdout  # fmt: skip
                out, capped_s = capped_run(cmd, env, group, int(cap), files["npz"])
                capped.append([name, f"{cap / 1e6:,.0f}", capped_s, secs, f"{capped_s / secs:.2f}",
                               "yes" if out == free else "NO"])  # fmt: skip
        if group is not None:
            group.rmdir()
    print(f"\ntiled {args.tiles}x{args.tiles} Shenzhen walk: {n_nodes:,} nodes, {n_arcs:,} arcs; "
          f"file {whole / 1e6:.0f} MB = {whole / n_arcs:.1f} B/arc (search structures stored: {derived}), "
          f"network arrays {own / 1e6:.0f} MB = {own / n_arcs:.1f} B/arc (the reference)")  # fmt: skip
    print_table(["process", "peak RSS MB", "peak anon MB", "wall s", "B/arc RSS", "B/arc anon",
                 "RSS × reference"], rows)  # fmt: skip
    print(
        "B/arc = (peak − baseline) / arcs; RSS counts the pages of the mapped network file the command "
        "touched (page cache, shared and reclaimable), anon only the memory the process owns"
    )
    worst = max(float(str(r[4])) for r in rows[1:])
    worst_anon = max(float(str(r[5])) for r in rows[1:])
    print(f"goal ≤ {GOAL_B_PER_ARC:.0f} B/arc: worst command {worst_anon:.1f} B/arc of own memory, "
          f"{worst:.1f} B/arc of peak RSS with the mapped file pages it touched")  # fmt: skip
    print_capped(capped, GOAL_B_PER_ARC)


def print_capped(capped: list[list[object]], goal: float) -> None:
    """The capped runs' table and verdict: met when every command ran under the cap with the same
    output as without it."""
    if not capped:
        print("capped run: skipped (no memory cgroup can be made here)")
        return
    print(f"\nunder a memory cgroup of baseline peak RSS + {goal:.0f} B/arc (own memory and page cache "
          "charged together, no swap; the network file dropped from the page cache first):")
    print_table(["process", "cap MB", "wall s capped", "wall s free", "slowdown", "same output"], capped)
    ok = all(r[-1] == "yes" for r in capped)
    print(f"goal ≤ {goal:.0f} B/arc: {'met' if ok else 'MISSED'} (every command must run under the cap "
          "with the same output)")  # fmt: skip


if __name__ == "__main__":
    main()
