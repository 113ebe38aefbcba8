#!/usr/bin/env bash
# Set up whatever is missing on a fresh Debian machine: system packages (PostGIS, GDAL, Chromium),
# a running PostgreSQL, the .venv with yizhan installed editable, the map assets, the database and
# its migrations. Safe to run again: every step checks first.
set -euo pipefail
cd "$(dirname "$0")/.."
log() { printf '[setup] %s\n' "$*" >&2; }
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"

need_apt=()
[ -f /usr/share/postgresql/15/extension/postgis.control ] || need_apt+=(postgresql-15-postgis-3)
command -v ogrinfo >/dev/null 2>&1 || need_apt+=(gdal-bin)
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v npm >/dev/null 2>&1 || need_apt+=(npm)
# PDF reports: pango for WeasyPrint, poppler-utils (pdftoppm/pdftotext) to check the pages in the tests
[ -e /usr/lib/x86_64-linux-gnu/libpango-1.0.so.0 ] || ldconfig -p | grep -q libpango-1.0 || need_apt+=(libpango-1.0-0 libpangoft2-1.0-0)
command -v pdftoppm >/dev/null 2>&1 || need_apt+=(poppler-utils)
# a CJK font so Chinese labels render in the browser-test screenshots
fc-list 2>/dev/null | grep -qi "wenquanyi\|wqy" || need_apt+=(fonts-wqy-microhei)
if [ ${#need_apt[@]} -gt 0 ]; then
  log "installing ${need_apt[*]} (apt-get)"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# PostgreSQL must be running on 127.0.0.1:5432.
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  log "starting PostgreSQL"
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start || true
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi

# Python environment.
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  log "creating .venv"
  "$PY" -m venv .venv
fi
# (again when the project's metadata or the compiled search changed, or its module is missing)
if [ ! -f .venv/.installed ] || [ pyproject.toml -nt .venv/.installed ] || [ setup.py -nt .venv/.installed ] \
   || [ geo/_dijkstra.c -nt .venv/.installed ] || ! .venv/bin/python -c "import geo._dijkstra" 2>/dev/null; then
  log "installing yizhan (editable) with all and dev extras"
  .venv/bin/pip install -q --upgrade pip >/dev/null
  .venv/bin/pip install -q -e '.[all,dev]'
  touch .venv/.installed
fi

# Byte-code of the project's own modules. pip compiles what it installs, but an editable install
# leaves the sources to be compiled on first import, and where PYTHONDONTWRITEBYTECODE is set (as on
# the project's machines) that happens again on every start: ~0.2 s of each `yizhan` command.
# compileall only rewrites what changed.
.venv/bin/python -m compileall -q -j 0 geo api maps >/dev/null

# Map assets (Leaflet and plugins) served by yizhan itself, from the npm registry.
if [ -x scripts/fetch_map_assets.sh ]; then
  scripts/fetch_map_assets.sh
fi

# Database and migrations.
.venv/bin/python -m geo.db.setup_db
log "ready"
