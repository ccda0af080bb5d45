#!/usr/bin/env bash
# Print the path of a Python 3.13 interpreter for `make dev`'s and the tests' .venv, the series the
# image runs (python:3.13-slim-trixie). Looked for in order: `python3.13` on PATH, then pyenv's
# versions (these machines carry CPython 3.13 under pyenv, not on PATH, beside a python3 of 3.11).
# Exits 1, saying what to install, when there is none.
set -o errexit -o nounset -o pipefail

WANT=3.13

works() { "$1" -c "import sys, venv, ssl; sys.exit(sys.version_info[:2] != (${WANT/./, }))" 2>/dev/null; }

if command -v "python$WANT" >/dev/null && works "python$WANT"; then
  command -v "python$WANT"
  exit 0
fi
for candidate in $(ls -d "${PYENV_ROOT:-$HOME/.pyenv}/versions/$WANT".*/bin/python$WANT 2>/dev/null | sort -V -r); do
  if works "$candidate"; then
    echo "$candidate"
    exit 0
  fi
done
echo "find-python: no Python $WANT found (python$WANT on PATH, or pyenv's versions): install it" \
  "(Debian trixie: apt-get install python3 python3-venv; elsewhere pyenv install $WANT), or run" \
  "make with PYTHON=/path/to/python$WANT" >&2
exit 1
