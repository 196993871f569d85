#!/usr/bin/env bash
# Installs bubblewrap, the sandbox compute jobs run in (Debian/Ubuntu: the `bubblewrap` package).
# Without it the worker refuses to run jobs. Run as root, or install the package yourself.
set -euo pipefail
if command -v bwrap >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "bubblewrap is missing: run 'sudo apt-get install bubblewrap' (or your system's package)" >&2
  exit 1
fi
if command -v apt-get >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq bubblewrap >/dev/null
elif command -v dnf >/dev/null 2>&1; then
  dnf install -y -q bubblewrap
else
  echo "bubblewrap is missing and no known package manager was found: install 'bubblewrap'" >&2
  exit 1
fi
command -v bwrap >/dev/null
