"""Benchmark: cost of checking an organisation's API key per request.

Reference: what a naive server does, read the key row from PostGIS and run the scrypt check on every
request. Ours: :class:`geo.orgs.keys.KeyVerifier` as the API runs it (scrypt once per key and
process, the row re-read every ``ttl`` seconds), and the same with ``ttl = 0`` (row read on every
request, still no scrypt: the worst case of revocation freshness). A throw-away database on the
test server (``YIZHAN_TEST_DATABASE_URL``) holds the key; it is dropped at the end.

Run: ``.venv/bin/python bench/auth_keys.py``
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import db_server, print_table
from sqlalchemy.orm import Session

from geo.db.engine import make_engine
from geo.db.setup_db import temporary_database
from geo.orgs import store
from geo.orgs.keys import KeyVerifier, StoredKey, check_token, token_key_id
from geo.orgs.tree import OrgFile, OrgRow


def per_request_us(fn: Callable[[], object], n: int) -> float:
    fn()  # warm
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n * 1e6


def main() -> None:
    with temporary_database(db_server(), prefix="yizhan_bench") as url:
        engine = make_engine(url)
        with Session(engine) as session:
            store.import_orgs(session, OrgFile((OrgRow(2, "430104", "岳麓区总工会", "county"),), (), {}, 1),
                              source="bench")
            token = store.create_key(session, name="bench", org_code="430104", role="editor")["secret"]
            key_id = token_key_id(token)
            assert key_id is not None

            def lookup(kid: str) -> StoredKey | None:
                return store.stored_key(session, kid)

            def reference() -> bool:
                row = store.stored_key(session, key_id)
                return row is not None and check_token(token, row.secret_hash)

            cached = KeyVerifier(ttl_seconds=5)
            fresh = KeyVerifier(ttl_seconds=0)
            ref_us = per_request_us(reference, 20)
            ours_us = per_request_us(lambda: cached.verify(token, lookup), 20_000)
            fresh_us = per_request_us(lambda: fresh.verify(token, lookup), 2_000)
        engine.dispose()
    print_table(
        ["check per request", "µs", "× faster than reference"],
        [
            ["reference: row read + scrypt", ref_us, 1.0],
            ["KeyVerifier, ttl 5 s (the API's default)", ours_us, ref_us / ours_us],
            ["KeyVerifier, ttl 0 (row read every request)", fresh_us, ref_us / fresh_us],
        ],
    )


if __name__ == "__main__":
    main()
