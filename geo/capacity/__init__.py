"""Station capacity and what it means for workers: capacity per station (visits per day), 2SFCA
accessibility per demand point and area, and the travel-time pairs both use.

* :mod:`geo.capacity.supply`: :func:`station_capacity` (an explicit column, seats, the visit log's busy
  day, or the default of ``data/capacity.toml``);
* :mod:`geo.capacity.travel`: :func:`travel_pairs`, every point × station pair within a cutoff by the
  project's travel-time definition;
* :mod:`geo.capacity.access`: :func:`two_step_fca` (Luo & Wang 2003, Gaussian or no decay).

Capacitated siting lives with the other siting models: :mod:`geo.siting.capacitated`.
"""

from __future__ import annotations

from geo.capacity.access import AREA_COLUMNS, DECAYS, AccessResult, decay_weights, fca_scores, two_step_fca
from geo.capacity.supply import (
    SOURCES,
    CapacityRule,
    capacity_rule,
    daily_visit_statistic,
    station_capacity,
    visits_from_db,
    visits_from_file,
)
from geo.capacity.travel import TravelPairs, pairs_within, travel_pairs

__all__ = [
    "AREA_COLUMNS",
    "DECAYS",
    "SOURCES",
    "AccessResult",
    "CapacityRule",
    "TravelPairs",
    "capacity_rule",
    "daily_visit_statistic",
    "decay_weights",
    "fca_scores",
    "pairs_within",
    "station_capacity",
    "travel_pairs",
    "two_step_fca",
    "visits_from_db",
    "visits_from_file",
]
