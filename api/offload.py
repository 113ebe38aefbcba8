"""CPU-bound request work in a separate process, so the server's GIL stays free for ``/nearest``.

Issue #15: a thread of the server's pool that parses a station file holds the GIL in many short
stretches, and every ``/nearest`` request waits for it at each of its own Python steps (p99 up to
21 ms at 150 requests/s while imports ran back to back). Reading and checking a file
(:func:`geo.stations.read_station_file`) needs nothing of the server's state, so it runs in one
worker process (``spawn``: a fresh interpreter, safe beside the server's threads); what needs the
request's database session stays in the server.

The worker is started on first use (or by :func:`warm_up` at startup) and kept for the server
process's life (stopped at its exit; it also ends by itself within a second when the server is
killed); if it dies (killed, out of memory) the pool is started again and the call is tried once
more. Exceptions raised in the worker (domain errors included) reach the caller as they were
raised. The worker is started with SIGINT blocked: Ctrl-C in a terminal reaches the whole process
group, and the server, not its worker, decides how to stop (no KeyboardInterrupt traceback from
a worker still importing or waiting for work).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: how often the worker checks that the server that started it is still there (seconds)
PARENT_CHECK_SECONDS = 1.0

_state: dict[str, ProcessPoolExecutor] = {}
_lock = threading.Lock()


def worker_pool() -> ProcessPoolExecutor:
    """The process pool of this server process (one worker), started on first use."""
    with _lock:
        pool = _state.get("pool")
        if pool is None:
            pool = ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_exit_with_parent,
                initargs=(os.getpid(),),
            )
            _start_without_sigint(pool)
            _state["pool"] = pool
        return pool


def _start_without_sigint(pool: ProcessPoolExecutor) -> None:
    """Start the pool's process now, from this thread with SIGINT blocked: the blocked mask is
    inherited through fork and exec, so the worker never gets a KeyboardInterrupt."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        pool.submit(_ready)  # a pool with the spawn method starts its process in the submitting thread
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _exit_with_parent(parent: int) -> None:
    """In the worker: end this process when the server that started it is gone (killed, say), rather
    than wait forever on a queue nobody writes to."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _restart(broken: ProcessPoolExecutor) -> None:
    with _lock:
        if _state.get("pool") is broken:
            del _state["pool"]
    broken.shutdown(wait=False, cancel_futures=True)


async def in_process(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` in the worker process, awaited without blocking the event loop.

    ``fn`` must be importable by name (a module-level function) and its arguments and result
    picklable."""
    call = functools.partial(fn, *args, **kwargs)
    loop = asyncio.get_running_loop()
    for attempt in (1, 2):
        pool = worker_pool()
        try:
            return await loop.run_in_executor(pool, call)
        except BrokenProcessPool:
            logger.warning("the worker process died (attempt %d); starting it again", attempt)
            _restart(pool)
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _ready() -> bool:
    import geo.stations  # noqa: F401  (the import is the warm-up)

    return True


def warm_up() -> None:
    """Start the worker and import the file readers in it now, not on the first import request."""
    worker_pool()


def shut_down() -> None:
    """Stop the worker process (at server shutdown): queued calls are cancelled, a running one (a
    station file being read) ends first, and the pool's queues and semaphores are released."""
    with _lock:
        pool = _state.pop("pool", None)
    if pool is not None:
        pool.shutdown(wait=True, cancel_futures=True)
