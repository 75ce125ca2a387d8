#!/usr/bin/env bash
# Make sure the real services the test suite talks to are running on loopback.
# PostgreSQL: use the server at 127.0.0.1:5432 if one answers, start the installed cluster if not,
# and install Debian's server package where none is installed.
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
