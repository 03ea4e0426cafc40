#!/usr/bin/env bash
# zswap-spec's set-up and jobs.  Each command installs what it needs first
# (a virtual environment in .venv with the package and its test tools).
#
#   ./dev.sh check    the main job: zswap-spec check on the built-in sample
#   ./dev.sh test     the test suite (pytest)
#   ./dev.sh bench    zswap-spec bench: the optimized core beside a raw C loop and the model
#   ./dev.sh kernel-check [options]   a real kernel under qemu against the model
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
    echo "dev.sh: creating the virtual environment $VENV" >&2
    if ! "$PY" -m venv "$VENV" >/dev/null 2>&1; then
      rm -rf "$VENV"
      if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "dev.sh: installing python3-venv" >&2
        apt-get update -qq >/dev/null && apt-get install -y -qq python3-venv >/dev/null 2>&1
        "$PY" -m venv "$VENV"
      else
        die "cannot create a virtual environment; install python3-venv (as root: apt-get install python3-venv)"
      fi
    fi
  fi
  build_prerequisites
  local stamp
  # Reinstall (and rebuild the compiled parts) when the build or its C sources change.
  stamp="$VENV/.installed-$(find pyproject.toml optimized_core driverkit spec -name pyproject.toml -o -name '*.pyx' -o -name '*.pxi' \
    -o -name '*.[ch]' -not -path '*/kernel/*' -not -name '_core.c' | sort | xargs cat | sha1sum | cut -c1-12)"
  if [ ! -e "$stamp" ]; then
    # -qq: progress is ours to print; pip's errors still show (a failed build
    # prints its log).  Build warnings (setuptools' notes on experimental
    # ext-modules, data folders) say nothing a user can act on.
    echo "dev.sh: installing zswap-spec and its test tools into $VENV (builds the optimized core; about a minute)" >&2
    "$VENV/bin/python" -m pip install -qq --disable-pip-version-check --upgrade pip "setuptools>=77" wheel
    "$VENV/bin/python" -m pip install -qq --disable-pip-version-check -e '.[test,cluster]'
    rm -f "$VENV"/.installed-*
    touch "$stamp"
  fi
}

# install_packages WHY WITHOUT PACKAGE...: apt-get them as root, else say
# which are missing and what happens without them.
install_packages() {
  local why=$1 without=$2
  shift 2
  [ $# -eq 0 ] && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "dev.sh: installing $* ($why)" >&2
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "$@"; } >/dev/null 2>"$VENV/.apt.log" \
      || { cat "$VENV/.apt.log" >&2; die "installing $* failed (log above)"; }
  else
    echo "dev.sh: note: $* needed ($why); install them (as root) $without" >&2
  fi
}

# The optimized core is compiled at install time: a C compiler and Python's
# headers.  Without them the package still installs and the model serves.
build_prerequisites() {
  local need=()
  command -v gcc >/dev/null || need+=(gcc libc6-dev)
  local inc
  inc=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
  [ -e "$inc/Python.h" ] || need+=(python3-dev)
  install_packages "to build the optimized core" "or the model serves alone" "${need[@]}"
}

# The kernel checks boot Debian's kernels (or ones kernel-build made) under
# qemu, the fuzzing tests
# start a Redis server, and the driver kit's tests build drivers against the
# compression libraries: they need these tools.
system_packages() {
  local need=()
  command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
  dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static)
  command -v depmod >/dev/null || need+=(kmod)
  command -v xz >/dev/null || need+=(xz-utils)
  command -v gcc >/dev/null || need+=(gcc libc6-dev)
  command -v redis-server >/dev/null || need+=(redis-server)  # shared fuzzing database tests
  # the realistic drivers of the driver kit's tests link the compression libraries
  [ -e /usr/include/lz4.h ] || need+=(liblz4-dev)
  [ -e /usr/include/zstd.h ] || need+=(libzstd-dev)
  [ -e /usr/include/zlib.h ] || need+=(zlib1g-dev)
  # kernel-build: make, the kernel's own host tools (kconfig's parser needs
  # flex and bison, objtool libelf) and patch for the series applied.
  local tool
  for tool in make flex bison bc perl patch; do
    command -v "$tool" >/dev/null || need+=("$tool")
  done
  [ -e /usr/include/gelf.h ] || need+=(libelf-dev)
  install_packages "for the kernel checks, kernel-build and the Redis tests" "or they are skipped" "${need[@]}"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  setup) setup; system_packages ;;
  check) setup; exec "$VENV/bin/zswap-spec" check "$@" ;;
  test)  setup; system_packages; exec "$VENV/bin/pytest" "$@" ;;
  kernel-check) setup; system_packages; exec "$VENV/bin/zswap-spec" kernel-check "$@" ;;
  bench) setup; exec "$VENV/bin/zswap-spec" bench "$@" ;;
  *) die "usage: ./dev.sh check|test|bench|kernel-check|setup [args...]" ;;
esac
