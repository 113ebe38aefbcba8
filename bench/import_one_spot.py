"""Import of a station file whose rows all lie at one spot (issue #15): time and peak memory.

What it does
------------
1. Times, in this process, the duplicate check within a file on 3,000 rows at one spot (the trial's
   100 KB file): the reference (every pair within 20 m from ``cKDTree.query_pairs``, then a Python
   loop comparing names) against ours (:func:`geo.stations.file_duplicates`: rows on an over-full
   spot reported, pairs compared only among the rest), and prints the ratio.
2. Writes a 5 MB CSV of one spot (distinct names, one address each) and runs
   ``yizhan stations import FILE --dry-run --json`` on it in a subprocess against a throw-away
   PostGIS database, printing its wall time, peak RSS (``wait4``) and exit code. Target: ≤ 5 s,
   ≤ 300 MB, exit 2 with every row reported.

Usage: ``.venv/bin/python bench/import_one_spot.py [--megabytes 5] [--rows 3000]``
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _common import db_server  # noqa: E402

from geo.db.setup_db import temporary_database  # noqa: E402
from geo.stations import DUPLICATE_METERS, file_duplicates, local_meters, similar_names  # noqa: E402

SPOT = (113.9365, 22.5405)


def reference_duplicates(records: list[tuple[int, dict[str, Any]]]) -> dict[int, tuple[str, str]]:
    """The check before issue #15: every close pair, then names compared in Python."""
    from scipy.spatial import cKDTree

    out: dict[int, tuple[str, str]] = {}
    lon = np.array([r["lon"] for _, r in records])
    lat = np.array([r["lat"] for _, r in records])
    tree = cKDTree(local_meters(lon, lat))
    for i, j in sorted(tree.query_pairs(DUPLICATE_METERS)):
        (row_i, a), (row_j, b) = records[i], records[j]
        if row_j in out or row_i in out:
            continue
        if a["external_id"] != b["external_id"] and similar_names(a["name"], b["name"]):
            out[row_j] = ("name", f"duplicate of row {row_i}")
    return out


def one_spot_records(n: int) -> list[tuple[int, dict[str, Any]]]:
    rng = np.random.default_rng(7)
    jitter = rng.uniform(-2e-5, 2e-5, size=(n, 2))  # ±2 m
    return [
        (i + 2, {"external_id": f"S{i}", "source": "bench", "name": f"第{i}号{'甲乙丙丁戊己庚辛'[i % 8]}驿站",
                 "lon": SPOT[0] + jitter[i, 0], "lat": SPOT[1] + jitter[i, 1]})
        for i in range(n)
    ]  # fmt: skip


def write_one_spot_csv(path: Path, megabytes: float) -> int:
    target = int(megabytes * 1_000_000)
    lines = ["编号,名称,经度,纬度,类型,地址"]
    size, i = len(lines[0].encode()), 0
    while size < target:
        line = f"S{i},第{i}号户外劳动者驿站,{SPOT[0]},{SPOT[1]},工会驿站,深圳市南山区科技园某路{i}号"
        lines.append(line)
        size += len(line.encode()) + 1
        i += 1
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return i


#: the CLI, printing its own peak RSS at exit (``VmHWM`` of its address space: ``ru_maxrss`` of a
#: child would carry over the parent's high-water mark through fork and exec)
PEAK_REPORTING_CLI = """
import atexit, sys
from api.cli import main
def peak():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM"):
            sys.stderr.write("peak-kb " + line.split()[1] + "\\n")
atexit.register(peak)
main()
"""


def run_cli(args: list[str], env: dict[str, str]) -> tuple[float, float, float, int, str]:
    """Wall seconds, CPU seconds (user + system), peak RSS (MB, as the child reports it) and exit
    code of a child process, and its stderr."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    cpu = usage.ru_utime + usage.ru_stime
    peak = [int(line.split()[1]) for line in err.splitlines() if line.startswith("peak-kb ")]
    err = "\n".join(line for line in err.splitlines() if not line.startswith("peak-kb "))
    return time.perf_counter() - t0, cpu, (peak[0] / 1024 if peak else float("nan")), proc.returncode, err


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=float, default=5.0)
    parser.add_argument("--rows", type=int, default=3000)
    opts = parser.parse_args()

    records = one_spot_records(opts.rows)
    t0 = time.perf_counter()
    ref = reference_duplicates(records)
    t_ref = time.perf_counter() - t0
    t0 = time.perf_counter()
    ours = file_duplicates(records)
    t_ours = time.perf_counter() - t0
    print(f"duplicate check, {opts.rows:,} rows at one spot: reference {t_ref:.2f} s ({len(ref):,} flagged), "
          f"ours {t_ours:.3f} s ({len(ours):,} flagged); ratio {t_ref / t_ours:,.0f}×")

    with tempfile.TemporaryDirectory() as tmp, temporary_database(db_server(), prefix="yizhan_bench") as url:
        path = Path(tmp) / "one_spot.csv"
        n = write_one_spot_csv(path, opts.megabytes)
        env = {**os.environ, "YIZHAN_DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
        yizhan = [sys.executable, "-c", "from api.cli import main; main()"]
        subprocess.run([*yizhan, "db", "upgrade"], env=env, check=True, stdout=subprocess.DEVNULL)
        args = ["stations", "import", str(path), "--dry-run", "--json"]
        cli = [sys.executable, "-c", PEAK_REPORTING_CLI, *args]
        wall, cpu, rss, code, err = run_cli(cli, env)
        size = path.stat().st_size / 1e6
        print(f"yizhan stations import, {size:.1f} MB CSV of {n:,} rows at one spot: {wall:.2f} s wall, "
              f"{cpu:.2f} s CPU, peak RSS {rss:.0f} MB, exit {code} ({err.strip()[:90]})")


if __name__ == "__main__":
    main()
