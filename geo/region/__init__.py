"""Nation-scale coverage: every area network of a region as a Dask task, merged and rolled up.

See ``docs/REGION.md``. Public pieces: :func:`region_coverage` (the run), :func:`write_region_result`
/ :func:`read_region_result` (the result folder), :func:`read_manifest` (the networks folder of
``yizhan network build-areas``), :func:`clip_to_area` (the halo rule) and :func:`tile_region` /
:func:`write_region_networks` (a synthetic region for tests and benchmarks).
"""

from geo.region.clip import buffer_meters, clip_to_area
from geo.region.coverage import RegionResult, dask_client, region_coverage, run_area
from geo.region.manifest import Manifest, read_manifest, required_halo_meters
from geo.region.output import read_points, read_region_result, write_region_result
from geo.region.siting import RegionSiting, region_sites
from geo.region.synthetic import station_points, synthetic_inputs, tile_region, write_region_networks

__all__ = [
    "Manifest",
    "RegionResult",
    "RegionSiting",
    "buffer_meters",
    "clip_to_area",
    "dask_client",
    "read_manifest",
    "read_points",
    "read_region_result",
    "region_coverage",
    "region_sites",
    "required_halo_meters",
    "run_area",
    "station_points",
    "synthetic_inputs",
    "tile_region",
    "write_region_networks",
    "write_region_result",
]
