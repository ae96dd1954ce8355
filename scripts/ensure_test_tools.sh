#!/usr/bin/env bash
# Tools the tests use beyond Python packages: headless Chromium and its driver for the query-page
# test (Debian's packages). Installed when missing and we are root with apt; otherwise the page
# test skips and says why.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing chromium and chromium-driver for the query-page test..." >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
fi
