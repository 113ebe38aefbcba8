"""Siting: where the next stations should go — exact, incremental, phased, on real travel times.

Pipeline (all geometries WGS-84, EPSG:4326):

1. candidates (:mod:`geo.siting.candidates`): host POIs by ``data/host_rules.toml``, a planner's file, or
   street nodes;
2. sparse coverage sets (:mod:`geo.siting.coverage_sets`): candidate × demand within ``minutes`` by the
   project's travel-time definition, with demand covered by the fixed existing stations removed and
   identical demand columns merged;
3. presolve (:mod:`geo.siting.presolve`): dominated candidates removed, columns re-merged, the instance
   split into independent components;
4. models (:mod:`geo.siting.models`): maximal covering (add ``p``), budget, set covering to a target
   share, each with an optional per-area minimum; exact with HiGHS or lazy greedy (CELF); fairness floors
   per area and per worker group and a p95 ceiling per area in the exact maximal covering
   (:mod:`geo.siting.fairness`), with the price of fairness;
5. :class:`~geo.siting.result.SitingResult`: sites in build order with before/after coverage and the
   solver's certificate (status, objective, proven bound, gap).

:func:`~geo.siting.plan.plan_sites` runs the whole pipeline.
"""

from __future__ import annotations

from geo.siting.candidates import (
    candidates_from_file,
    candidates_from_network,
    candidates_from_pois,
    load_host_rules,
    validate_candidates,
)
from geo.siting.coverage_sets import CoverageSets, build_coverage_sets
from geo.siting.exact import mclp_exact
from geo.siting.models import (
    Solution,
    build_order,
    mclp_greedy,
    set_cover_exact,
    set_cover_greedy,
)
from geo.siting.plan import areas_of_points, plan_sites
from geo.siting.result import SitingResult

__all__ = [
    "CoverageSets",
    "SitingResult",
    "Solution",
    "areas_of_points",
    "build_coverage_sets",
    "build_order",
    "candidates_from_file",
    "candidates_from_network",
    "candidates_from_pois",
    "load_host_rules",
    "mclp_exact",
    "mclp_greedy",
    "plan_sites",
    "set_cover_exact",
    "set_cover_greedy",
    "validate_candidates",
]
