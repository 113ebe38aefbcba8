"""Benchmark: whole-province networks from .osm.pbf (``yizhan network build-areas``) vs a bare scan.

A synthetic province is tiled from the Shenzhen extract (:func:`geo.osm.synthetic.tile_province`)
until its PBF reaches ``--mb`` megabytes (default 200), counties of ``--county-tiles`` tiles
(default 6×6 ≈ 42 × 38 km, a real county's size). In one run, each in its own process (wall time
with start-up, peak RSS from ``wait4``):

* **scan**: the reference floor, one ``apply_file(locations=True)`` whose handler collects every
  highway way's node locations and does nothing else;
* **build-areas**: the whole ``yizhan network build-areas --modes walk,ebike --halo-minutes 60``;
* **osmnx** (comparison line, today's XML path): ``osmnx.graph_from_xml`` + mode rules on the
  first ``--osmnx-tiles`` tiles written as XML, with its ways/s and bytes per highway way.

Prints the ratio build-areas / scan (goal ≤ 5×, peak RSS ≤ 2 GB at ≥ 200 MB) and an
extrapolation to a 1.5 GB PBF (China) at the measured MB/s and RSS per MB. Nothing is committed
or downloaded; the files go to a temporary folder (``--keep DIR`` to keep them).

Run: ``PYTHONPATH=$PWD .venv/bin/python bench/pbf_build.py [--mb 200]``
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import print_table, shenzhen_osm

from geo.osm.synthetic import SyntheticProvince, tile_province, write_osm

SCAN = """
import sys, osmium
class Scan(osmium.SimpleHandler):
    def __init__(self):
        super().__init__()
        self.coords = []
    def way(self, w):
        if 'highway' in w.tags:
            self.coords.append([(n.lon, n.lat) for n in w.nodes])
h = Scan()
h.apply_file(sys.argv[1], locations=True)
print(len(h.coords))
"""

OSMNX = """
import sys
from tests.geo.conftest import read_raw_osmnx
from geo.network import network_from_graph
g = read_raw_osmnx(sys.argv[1])
for mode in ("walk", "ebike"):
    network_from_graph(g, mode=mode)
"""


def run(args: list[str], env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """Wall seconds, peak RSS in MB and stdout of a child process (wait4 gives its own rusage)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    assert proc.stdout is not None
    out = proc.stdout.read().decode()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{args[:4]} failed with status {status}")
    return wall, usage.ru_maxrss / 1024.0, out


def make_province(target_mb: float, county: int, out: Path) -> tuple[SyntheticProvince, float, int]:
    """Tile until the PBF reaches ``target_mb`` (size estimated from a 4×4 probe)."""
    probe = tile_province(shenzhen_osm(), out, cols=4, rows=4, name="probe")
    per_tile = probe.pbf.stat().st_size / 16
    side = math.ceil(math.sqrt(target_mb * 1e6 / per_tile))
    t0 = time.perf_counter()
    prov = tile_province(shenzhen_osm(), out, cols=side, rows=side, county_tiles=(county, county))
    return prov, time.perf_counter() - t0, side


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=200.0, help="PBF size to generate (MB)")
    ap.add_argument("--county-tiles", type=int, default=6, help="tiles per county side")
    ap.add_argument("--halo-minutes", type=float, default=60.0)
    ap.add_argument(
        "--osmnx-tiles", type=int, default=4, help="tiles for the osmnx comparison line (0: skip)"
    )
    ap.add_argument("--keep", type=Path, default=None, help="keep the generated files here")
    a = ap.parse_args()
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": f"{root}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    with tempfile.TemporaryDirectory() as tmp:
        work = a.keep or Path(tmp)
        prov, t_gen, side = make_province(a.mb, a.county_tiles, work)
        mb = prov.pbf.stat().st_size / 1e6
        print(
            f"province: {side}×{side} Shenzhen tiles, {len(prov.codes)} counties, {mb:.1f} MB PBF, "
            f"{prov.nodes:,} nodes, {prov.ways:,} ways, generated in {t_gen:.0f} s"
        )
        t_scan, rss_scan, n_ways = run([sys.executable, "-c", SCAN, str(prov.pbf)])
        yizhan = [sys.executable, "-c", "from api.cli import main; main()"]
        t_build, rss_build, out = run(
            [*yizhan, "network", "build-areas", "--osm", str(prov.pbf), "--areas", str(prov.areas),
             "--code-field", "adcode", "--modes", "walk,ebike", "--halo-minutes", str(a.halo_minutes),
             "--out", str(work / "nets"), "--no-progress"], env=env)  # fmt: skip
        summary = json.loads(out)
        print(f"build-areas stages (s): {summary['stage_seconds']}")
        manifest = json.loads((work / "nets" / "manifest.json").read_text())["areas"]
        rows = [
            ["bare pyosmium scan", t_scan, rss_scan, mb / t_scan, f"{int(n_ways):,} highway ways"],
            ["network build-areas", t_build, rss_build, mb / t_build,
             f"{summary['networks']} networks, {sum(e['arcs'] for e in manifest):,} arcs"],
        ]  # fmt: skip
        if a.osmnx_tiles:
            small = tile_province(shenzhen_osm(), work / "osmnx", cols=a.osmnx_tiles, rows=1, name="small")
            xml = write_osm(small.pbf, work / "osmnx" / "small.osm")
            t_x, rss_x, _ = run([sys.executable, "-c", OSMNX, str(xml)], env={**env, "PYTHONPATH": f"{root}"})
            ways = small.ways
            note = f"{a.osmnx_tiles} tiles, {ways / t_x:,.0f} ways/s, {rss_x * 1e3 / ways:.0f} kB/way"
            rows.append(["osmnx XML (comparison)", t_x, rss_x, xml.stat().st_size / 1e6 / t_x, note])
        print_table(["process", "wall s", "peak RSS MB", "MB/s", "notes"], rows)
        ratio = t_build / t_scan
        print(f"\nbuild-areas / bare scan = {ratio:.2f}× (goal ≤ 5×)")
        print(f"peak RSS {rss_build:,.0f} MB (goal ≤ 2,048 MB at ≥ 200 MB of PBF)")
        _, rss_base, _ = run([*yizhan, "network", "build-areas", "--help"], env=env)
        china = 1500.0
        print(
            f"linear extrapolation to a {china:.0f} MB PBF (China) at the measured MB/s and RSS per MB above "
            f"the {rss_base:.0f} MB of start-up: {china / (mb / t_build) / 60:.1f} min, "
            f"{(rss_base + (rss_build - rss_base) / mb * china) / 1024:.1f} GB (synthetic tiles are "
            "street-dense: real PBFs hold more other data per MB)"
        )


if __name__ == "__main__":
    main()
