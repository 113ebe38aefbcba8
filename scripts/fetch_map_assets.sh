#!/usr/bin/env bash
# Install the JavaScript/CSS the maps need (Leaflet and plugins, the versions folium expects) from the
# npm registry into maps/static/vendor/, so yizhan serves every script and stylesheet itself.
# maps/static/vendor/ is gitignored and never committed. Idempotent: skips when the files are present
# (FORCE=1 re-installs). Needs npm.
set -euo pipefail
cd "$(dirname "$0")/.."
log() { printf '[map-assets] %s\n' "$*" >&2; }

VENDOR=maps/static/vendor
STAMP="$VENDOR/.fetched-v2"
if [ -f "$STAMP" ] && [ "${FORCE:-0}" != "1" ]; then
  log "already present in $VENDOR (FORCE=1 to re-install)"
  exit 0
fi
command -v npm >/dev/null 2>&1 || { log "npm is missing (apt-get install npm)"; exit 1; }

# package@version: the versions folium 0.20 links from CDNs (markercluster: 1.5.3, the release made for Leaflet 1.9).
PACKAGES=(
  leaflet@1.9.3
  jquery@3.7.1
  bootstrap@5.2.2
  @fortawesome/fontawesome-free@6.2.0
  leaflet.awesome-markers@2.0.5
  leaflet.markercluster@1.5.3
  leaflet.fullscreen@3.0.0
)

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
log "npm install ${PACKAGES[*]}"
npm install --prefix "$WORK" --no-save --ignore-scripts --no-audit --no-fund --loglevel=error \
  "${PACKAGES[@]}" >/dev/null
NM="$WORK/node_modules"

TMP_VENDOR="$VENDOR.tmp.$$"
rm -rf "$TMP_VENDOR"
mkdir -p "$TMP_VENDOR"/{leaflet,jquery,bootstrap,fontawesome/css,awesome-markers,markercluster,fullscreen}
cp -r "$NM/leaflet/dist/leaflet.js" "$NM/leaflet/dist/leaflet.css" "$NM/leaflet/dist/images" \
  "$NM/leaflet/LICENSE" "$TMP_VENDOR/leaflet/"
cp "$NM/jquery/dist/jquery.min.js" "$NM/jquery/LICENSE.txt" "$TMP_VENDOR/jquery/"
cp "$NM/bootstrap/dist/js/bootstrap.bundle.min.js" "$NM/bootstrap/dist/css/bootstrap.min.css" \
  "$NM/bootstrap/LICENSE" "$TMP_VENDOR/bootstrap/"
cp "$NM/@fortawesome/fontawesome-free/css/all.min.css" "$TMP_VENDOR/fontawesome/css/"
cp -r "$NM/@fortawesome/fontawesome-free/webfonts" "$NM/@fortawesome/fontawesome-free/LICENSE.txt" \
  "$TMP_VENDOR/fontawesome/"
cp -r "$NM/leaflet.awesome-markers/dist/leaflet.awesome-markers.js" \
  "$NM/leaflet.awesome-markers/dist/leaflet.awesome-markers.css" \
  "$NM/leaflet.awesome-markers/dist/images" "$NM/leaflet.awesome-markers/LICENSE" \
  "$TMP_VENDOR/awesome-markers/"
cp "$NM/leaflet.markercluster/dist/leaflet.markercluster.js" \
  "$NM/leaflet.markercluster/dist/MarkerCluster.css" \
  "$NM/leaflet.markercluster/dist/MarkerCluster.Default.css" \
  "$NM/leaflet.markercluster/MIT-LICENCE.txt" "$TMP_VENDOR/markercluster/"
cp "$NM/leaflet.fullscreen/Control.FullScreen.js" "$NM/leaflet.fullscreen/Control.FullScreen.css" \
  "$NM/leaflet.fullscreen/icon-fullscreen.svg" "$NM/leaflet.fullscreen/LICENSE" "$TMP_VENDOR/fullscreen/"
printf '%s\n' "${PACKAGES[@]}" > "$TMP_VENDOR/PACKAGES.txt"
touch "$TMP_VENDOR/.fetched-v2"

rm -rf "$VENDOR"
mv "$TMP_VENDOR" "$VENDOR"
log "installed into $VENDOR ($(du -sh "$VENDOR" | cut -f1))"
