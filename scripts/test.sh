#!/usr/bin/env bash
# Second command of the README (and what .ci/run calls): set up and run the whole test suite,
# SQLite and a throwaway PostgreSQL 15 server that the tests start themselves.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/system-packages.sh
. scripts/venv.sh
# Under libfaketime (`faketime DATE ./scripts/test.sh`: the suite must pass on any date), Python's
# timed thread waits would last as long as the date's shift: tests/faketime/monotonic_waits.c,
# preloaded before libfaketime, keeps them as long as asked.
if [[ "${LD_PRELOAD:-}" == *faketime* ]]; then
  waits=.venv/faketime-monotonic-waits.so
  if [ ! -e "$waits" ] || [ tests/faketime/monotonic_waits.c -nt "$waits" ]; then
    gcc -shared -fPIC -O2 -o "$waits" tests/faketime/monotonic_waits.c -ldl
  fi
  export LD_PRELOAD="$PWD/$waits:$LD_PRELOAD"
fi
# One pytest worker per core (pytest-xdist; each worker starts its own throwaway PostgreSQL).
# A test file runs whole on one worker, in its order (module fixtures start servers once; a
# file's last test may read the logs its earlier tests wrote).
# BOOKINGCAL_TEST_WORKERS=0 runs in one process; a later `-n N` argument wins too.
workers=${BOOKINGCAL_TEST_WORKERS:-$(nproc)}
exec .venv/bin/python -m pytest -n "$workers" --dist loadfile "$@"
