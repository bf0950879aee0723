#!/usr/bin/env bash
# Make sure a headless Chromium is on PATH for the HTML report's render test (Debian's package, installed when
# missing and possible, as .ci/postgres.sh does for PostgreSQL). Prints the browser's path on stdout; prints
# nothing (and says why on stderr) when none can be had. The render test fails under CI=true without one.
set -uo pipefail

find_browser() {
  for name in chromium chromium-browser google-chrome chrome headless_shell; do
    command -v "$name" 2>/dev/null && return 0
  done
  return 1
}

if BROWSER=$(find_browser); then echo "$BROWSER"; exit 0; fi
if [ "$(id -u)" != 0 ]; then
  echo "no Chromium on PATH and not root (cannot apt-get install chromium): the report render test has no browser" >&2
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "no Chromium on PATH and no apt-get to install it: the report render test has no browser" >&2
  exit 0
fi
echo "installing Debian's chromium package for the report render test" >&2
export DEBIAN_FRONTEND=noninteractive
# the package lists are refreshed only when the install fails (stale or absent lists)
if ! apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1; then
  if ! { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1; }; then
    echo "apt-get could not install chromium (no network or no such package): the report render test has no browser" >&2
    exit 0
  fi
fi
if BROWSER=$(find_browser); then echo "$BROWSER"; exit 0; fi
echo "chromium was installed but no browser is on PATH: the report render test has no browser" >&2
exit 0
