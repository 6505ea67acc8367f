#!/usr/bin/env bash
# Installs the real peers the tests use, each only when missing:
#   Debian: chromium (headless browser), python3-websockets, tshark
#   npm:    ws, playwright-core (in test/node; never downloads a browser)
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
/usr/bin/python3 -c 'import websockets' >/dev/null 2>&1 || need_apt+=(python3-websockets)
command -v tshark >/dev/null 2>&1 || need_apt+=(tshark)

if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "test-deps: need root to apt-get install ${need_apt[*]}" >&2
    exit 1
  fi
  echo "test-deps: installing ${need_apt[*]}"
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

if [ -f test/node/package.json ] && [ ! -d test/node/node_modules/ws ]; then
  echo "test-deps: npm install in test/node"
  (cd test/node && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-audit --no-fund --silent)
fi
echo "test-deps: ok"
