#!/bin/sh
# Run the newest data drop unattended, for cron. Copy this file, adapt the paths, then
# `crontab -e` and add, for every day at 06:15:
#
#   15 6 * * *  /srv/geo/geo_integration/scripts/cron_example.sh
#
# The newest folder of $INCOMING (by name: name drops 2026-11-30_..., or as they arrive) is
# run into $OUT_ROOT/<date>_<drop id>/. A drop already run is reused in a few seconds (every
# stage is cached), so running daily is cheap. Everything is logged to
# $OUT_ROOT/process_drop.log; the exit code is the script's (0 done, 1 failed: see the log,
# 2 usage error), so cron mails you when it is not 0 and MAILTO is set.
set -eu

REPO=/srv/geo/geo_integration           # this repository (installed: make install)
PYTHON="$REPO/.venv/bin/python"
INCOMING=/srv/geo/incoming              # one folder per data drop, as received
OUT_ROOT=/srv/geo/runs                  # dated run folders and process_drop.log
STORE=/srv/geo/store                    # the drop store (residence-level data: keep it private)
export GEO_INTEGRATION_DATA=/srv/geo/reference   # reference data (geo-integration data fetch)
export GEO_INTEGRATION_CACHE=/srv/geo/cache      # network, geocoder index and map assets
export GEO_INTEGRATION_ASSETS="$GEO_INTEGRATION_CACHE/assets"

newest=$(find "$INCOMING" -mindepth 1 -maxdepth 1 -type d | sort | tail -n 1)
if [ -z "$newest" ]; then
    echo "no drop folder in $INCOMING" >&2
    exit 1
fi
exec "$PYTHON" "$REPO/scripts/process_drop.py" "$newest" \
    --out-root "$OUT_ROOT" --store "$STORE" >/dev/null
