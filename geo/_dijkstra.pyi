"""Type stub of the compiled multi-source search (``geo/_dijkstra.c``)."""

from typing import Any

def multi_source(
    indptr: Any,
    indices: Any,
    length_m: Any,
    sources: Any,
    offsets_m: Any,
    limit: float,
    bucket: float,
    max_arc: float,
    dist: Any,
    owner: Any,
    budget: int = ...,
    pred: Any = ...,
    /,
) -> int: ...

def improve(
    indptr: Any,
    indices: Any,
    length_m: Any,
    sources: Any,
    offsets_m: Any,
    seed_owner: Any,
    limit: float,
    bucket: float,
    max_arc: float,
    dist: Any,
    owner: Any,
    /,
) -> int: ...
