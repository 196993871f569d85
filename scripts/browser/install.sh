#!/usr/bin/env bash
# Installs Chromium and its chromedriver, the headless browser tests/browser/ drives (Debian/Ubuntu: the
# `chromium` and `chromium-driver` packages). Selenium uses these two binaries and never downloads a browser.
# Run as root, or install the packages yourself.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "chromium or chromedriver is missing: run 'sudo apt-get install chromium chromium-driver'" >&2
  # Without them the browser tests skip themselves, except in CI, where they must run.
  [ "${CI:-}" = "true" ] && exit 1
  exit 0
fi
if command -v apt-get >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium chromium-driver >/dev/null
elif command -v dnf >/dev/null 2>&1; then
  dnf install -y -q chromium chromedriver
else
  echo "chromium is missing and no known package manager was found: install 'chromium' and its driver" >&2
  exit 1
fi
command -v chromium >/dev/null && command -v chromedriver >/dev/null
