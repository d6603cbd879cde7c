# Sourced by scripts/test.sh: the Debian packages the test suite drives for real (nginx as the
# reverse proxy in front of bookingcal, chromium for the admin pages' browser tests,
# pgbouncer as the transaction pooler in front of the throwaway PostgreSQL (tests/pgbouncer.py),
# systemd-analyze to verify the units in contrib/systemd, faketime for .ci/run's second pass of
# the date-sensitive tests at a later date, gcc for its preload tests/faketime/monotonic_waits.c,
# litmus for the WebDAV suites of tests/integration/test_litmus_peers.py and bench/litmus_run.py).
# Installed with apt when missing; PostgreSQL 15 is expected on the machine already (see README).
set -euo pipefail
_bookingcal_missing=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || _bookingcal_missing+=(nginx)
[ -x /usr/bin/chromium ] || _bookingcal_missing+=(chromium)
command -v pgbouncer >/dev/null 2>&1 || [ -x /usr/sbin/pgbouncer ] || _bookingcal_missing+=(pgbouncer)
command -v systemd-analyze >/dev/null 2>&1 || _bookingcal_missing+=(systemd)
command -v faketime >/dev/null 2>&1 || _bookingcal_missing+=(faketime)
command -v gcc >/dev/null 2>&1 || _bookingcal_missing+=(gcc)
[ -x /usr/libexec/litmus/basic ] || _bookingcal_missing+=(litmus)
if [ ${#_bookingcal_missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ] && ! command -v sudo >/dev/null 2>&1; then
    echo "error: the tests need the Debian packages: ${_bookingcal_missing[*]}; install them" \
         "(apt-get install ${_bookingcal_missing[*]}) or run the tests as root" >&2
    exit 1
  fi
  _sudo=""; [ "$(id -u)" = 0 ] || _sudo="sudo"
  echo "Installing Debian packages: ${_bookingcal_missing[*]} ..."
  export DEBIAN_FRONTEND=noninteractive
  $_sudo apt-get update -qq >/dev/null
  $_sudo apt-get install -y -qq --no-install-recommends "${_bookingcal_missing[@]}" >/dev/null
fi
unset _bookingcal_missing _sudo
