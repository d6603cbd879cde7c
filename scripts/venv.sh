# Sourced by scripts/serve.sh and scripts/test.sh: make .venv hold exactly what the project
# declares (setup.cfg, pinned by constraints.txt). Re-installs only when those files change.
set -euo pipefail
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "error: bookingcal needs Python 3.11 or newer; $PYTHON is $("$PYTHON" -V 2>&1)" >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  echo "Creating the virtual environment in .venv ..."
  "$PYTHON" -m venv .venv
fi
stamp=$(cat setup.cfg pyproject.toml constraints.txt | sha256sum | cut -c1-16)
if [ "$(cat .venv/.bookingcal-installed 2>/dev/null)" != "$stamp" ]; then
  echo "Installing bookingcal and its dependencies into .venv ..."
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install --quiet --disable-pip-version-check \
    -c constraints.txt -e ".[test]"
  echo "$stamp" > .venv/.bookingcal-installed
fi
