"""Organisations (小三级), their API keys and what each may change.

- :mod:`geo.orgs.tree`: levels and organisation files (CSV/XLSX/GeoJSON, Chinese headers);
- :mod:`geo.orgs.keys`: bootstrap and generated keys, scrypt hashes, the caching verifier;
- :mod:`geo.orgs.authz`: the authorisation rules (pure);
- :mod:`geo.orgs.store`: organisations, keys and targets in PostGIS;
- :mod:`geo.orgs.rollup`: stations and targets per child organisation.
"""
