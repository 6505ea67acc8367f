#!/usr/bin/env bash
# Installs what `make test` needs on Debian, each only when missing:
#   Debian: see the APT table below (apt-get, as root)
#   npm:    test/node's package.json/package-lock.json (npm ci; never
#           downloads a browser)
# As a non-root user it installs nothing system-wide: it exits 0 when all is
# present and fails with one line naming what is missing otherwise.
# Not installable from here: make (it runs this) and Go itself.
set -euo pipefail
cd "$(dirname "$0")/.."

# One row per Debian package: the package, then a shell check that succeeds
# when what the tests use is there (the exact paths they use). Adding a
# package is adding a row.
APT=(
  'ca-certificates     test -s /etc/ssl/certs/ca-certificates.crt'  # TLS to the Go module proxy and npm
  'gcc                 command -v "${CC:-gcc}"'                     # go test -race needs cgo ...
  'libc6-dev           test -e /usr/include/stdio.h'               # ... and libc's headers
  'chromium            test -x /usr/bin/chromium'                  # internal/browser
  'python3-websockets  /usr/bin/python3 -c "import websockets"'     # wsconn TestPythonWebsockets
  'tshark              command -v tshark'                           # cmd/wsdump, bench/polling
  'curl                command -v curl'                             # bench/polling probes the capture
  'nodejs              command -v node'                             # wsconn TestNodeWS
  'npm                 command -v npm'                              # test/node
  'prometheus          test -x /usr/bin/promtool'                  # hub TestMetricsPromtool
  'openssl             command -v openssl'                          # wsconn TestTLSOpenSSLClient (s_client)
  'nats-server         test -x /usr/sbin/nats-server'              # cmd/wsd TestClusterOverDebianNATS (-nats)
  'iproute2            command -v ip'                               # cmd/wsd TestClusterPartition (namespaces, veth, bridge)
)
# Answers for packages that would otherwise ask.
DEBCONF='wireshark-common wireshark-common/install-setuid boolean false'

missing() { # prints the packages whose check fails
  local row pkg check
  for row in "${APT[@]}"; do
    read -r pkg check <<<"$row"
    (eval "$check") >/dev/null 2>&1 || echo "$pkg"
  done
}

mapfile -t need < <(missing)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "test-deps: missing ${need[*]}; as root on Debian: apt-get install --no-install-recommends ${need[*]}" >&2
    exit 1
  fi
  echo "test-deps: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  echo "$DEBCONF" | debconf-set-selections
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  mapfile -t still < <(missing)
  if [ ${#still[@]} -gt 0 ]; then
    echo "test-deps: still missing after apt-get install: ${still[*]}" >&2
    exit 1
  fi
fi

# npm: exactly what package-lock.json says, unless node_modules already has it.
if [ -f test/node/package.json ] && ! (cd test/node && npm ls >/dev/null 2>&1); then
  echo "test-deps: npm in test/node"
  if [ -f test/node/package-lock.json ]; then npm_cmd=ci; else npm_cmd=install; fi
  (cd test/node && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm "$npm_cmd" --no-audit --no-fund --loglevel=error)
fi
echo "test-deps: ok"
