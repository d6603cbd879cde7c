#!/usr/bin/env bash
# First command of the README: set up, migrate, load the demo data on first run, and serve on
# the embedded SQLite default at http://127.0.0.1:5232/.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/venv.sh
exec .venv/bin/bookingcal --config config/bookingcal.toml serve --demo "$@"
