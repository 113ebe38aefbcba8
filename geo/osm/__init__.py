"""OpenStreetMap files read with pyosmium (libosmium): street networks and boundaries.

Modules
-------
``rules``
    The walk and e-bike access rules and how one-way tags are read (the one home of these rules,
    used by the pyosmium reader and by :func:`geo.network.network_from_graph` alike).
``reader``
    Streaming reader of ``.osm.pbf`` / ``.osm`` / ``.osm.bz2`` / ``.osm.gz``: highway ways in one
    pass, the locations of their nodes in a second, into compact numpy arrays.
``build``
    Networks from those arrays, clipped to an area buffered by a travel-time halo.
``regions``
    Every area of an areas file in one run (``yizhan network build-areas``).
``boundaries``
    Administrative boundary relations assembled into (multi)polygons.
``synthetic``
    A synthetic multi-county "province" tiled from a small extract (tests and benchmarks).

This package's ``__init__`` imports nothing, so :mod:`geo.network` may import :mod:`geo.osm.rules`
without a cycle.
"""
