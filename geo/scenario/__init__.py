"""Scenarios and what-if: plans as ordered actions on a base registry, evaluated incrementally."""

from geo.scenario.whatif import Change, IncrementalLabels, StationSources

__all__ = ["Change", "IncrementalLabels", "StationSources"]
