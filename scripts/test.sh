#!/usr/bin/env bash
# Second command of the README (and what .ci/run calls): set up and run the whole test suite,
# SQLite and a throwaway PostgreSQL 15 server that the tests start themselves.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/system-packages.sh
. scripts/venv.sh
exec .venv/bin/python -m pytest "$@"
