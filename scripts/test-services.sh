#!/usr/bin/env bash
# Make sure the real services the test suite talks to are running on loopback, and the browser.
# PostgreSQL: use the server at 127.0.0.1:5432 if one answers, start the installed cluster if not,
# and install Debian's server package where none is installed.
# Browser tests: Debian's Chromium (driven by Playwright through executable_path) and axe-core,
# installed from the npm registry at the version locked in tests/browser/package-lock.json.
set -euo pipefail

pg_ready() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }

if ! command -v pg_isready >/dev/null || ! pg_ready; then
    if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
        echo "test-services: installing PostgreSQL from Debian packages"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
        version=$(ls /etc/postgresql | head -1)
        sed -i 's/^\(local\|host\)\(.*\)\(peer\|scram-sha-256\|md5\)$/\1\2trust/' \
            "/etc/postgresql/$version/main/pg_hba.conf"
    fi
    echo "test-services: starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
    for _ in $(seq 1 30); do pg_ready && break; sleep 1; done
fi
pg_ready || { echo "test-services: PostgreSQL did not start on 127.0.0.1:5432" >&2; exit 1; }
if ! psql -h 127.0.0.1 -U postgres -lqt | cut -d '|' -f 1 | grep -qw test; then
    createdb -h 127.0.0.1 -U postgres test
fi
echo "test-services: PostgreSQL ready at 127.0.0.1:5432"

if [ ! -x /usr/bin/chromium ]; then
    echo "test-services: installing Chromium from Debian packages"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
fi
echo "test-services: Chromium $(/usr/bin/chromium --version 2>/dev/null | awk '{print $2}')"

browser_tests="$(cd "$(dirname "$0")/../tests/browser" && pwd)"
axe_version() {  # the version of axe-core in $1 (a package.json or the lock file)
    node -p "const p = require('$1'); (p.packages ? p.packages['node_modules/axe-core'] : p).version" \
        2>/dev/null
}
locked="$browser_tests/package-lock.json"
installed="$browser_tests/node_modules/axe-core/package.json"
if [ ! -f "$installed" ] || [ "$(axe_version "$installed")" != "$(axe_version "$locked")" ]; then
    if ! command -v npm >/dev/null; then
        echo "test-services: installing npm from Debian packages"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null
    fi
    echo "test-services: installing axe-core (tests/browser/package-lock.json)"
    (cd "$browser_tests" && npm ci --no-audit --no-fund --loglevel=error)
fi
echo "test-services: axe-core ready in tests/browser/node_modules"
