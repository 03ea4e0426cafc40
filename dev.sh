#!/usr/bin/env bash
# zswap-spec's set-up and jobs.  Each command installs what it needs first
# (a virtual environment in .venv with the package and its test tools).
#
#   ./dev.sh check    the main job: zswap-spec check on the built-in sample
#   ./dev.sh test     the test suite (pytest)
#   ./dev.sh bench    replay throughput on 64 MiB of mixed real pages
#   ./dev.sh setup    only the set-up
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
VENV=${VENV:-.venv}

die() { echo "dev.sh: $*" >&2; exit 2; }

setup() {
  command -v "$PY" >/dev/null || die "no $PY on PATH; install Python 3.11 or newer (apt-get install python3)"
  "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || die "$PY is $("$PY" -V 2>&1); zswap-spec needs Python 3.11 or newer (set PYTHON=...)"
  if [ ! -x "$VENV/bin/python" ]; then
    if ! "$PY" -m venv "$VENV" >/dev/null 2>&1; then
      rm -rf "$VENV"
      if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
        "$PY" -m venv "$VENV"
      else
        die "cannot create a virtual environment; install python3-venv (as root: apt-get install python3-venv)"
      fi
    fi
  fi
  local stamp
  stamp="$VENV/.installed-$(cat pyproject.toml | sha1sum | cut -c1-12)"
  if [ ! -e "$stamp" ]; then
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip "setuptools>=68" wheel
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e '.[test]'
    rm -f "$VENV"/.installed-*
    touch "$stamp"
  fi
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  setup) setup ;;
  check) setup; exec "$VENV/bin/zswap-spec" check "$@" ;;
  test)  setup; exec "$VENV/bin/pytest" "$@" ;;
  bench) setup; exec "$VENV/bin/python" bench/replay_speed.py "$@" ;;
  *) die "usage: ./dev.sh check|test|bench|setup [args...]" ;;
esac
