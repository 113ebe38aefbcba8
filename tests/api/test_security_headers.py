"""Served HTML pages carry a Content-Security-Policy whose script hashes are the page's inline
scripts (issue #15); JSON responses carry none."""

from __future__ import annotations

from fastapi.testclient import TestClient

from maps.csp import script_hashes


def test_served_pages_carry_their_csp(client: TestClient) -> None:
    for url in ("/maps/finder?tiles=none", "/maps/coverage?tiles=none&minutes=5", "/docs"):
        r = client.get(url)
        assert r.status_code == 200, (url, r.text[:200])
        policy = r.headers["Content-Security-Policy"]
        script_src = policy.split("script-src")[1].split(";")[0]
        assert "object-src 'none'" in policy and "'unsafe-inline'" not in script_src, url
        assert script_hashes(r.text) and set(script_hashes(r.text)) <= set(script_src.split()), url
        assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert "Content-Security-Policy" not in client.get("/healthz").headers
