#!/bin/bash
# Stand-in for the official postgres image's entrypoint (test tier only), on Debian's
# PostgreSQL: on an empty PGDATA it runs initdb with POSTGRES_USER as the superuser and
# POSTGRES_PASSWORD, creates POSTGRES_DB, allows password logins from the network, then sources
# /docker-entrypoint-initdb.d/*.sh with the server listening on its socket only (as the official
# image does: the healthcheck turns healthy only once they ran); then it runs the server as the
# postgres user.
set -euo pipefail
: "${POSTGRES_PASSWORD:?}"
user="${POSTGRES_USER:-postgres}"
db="${POSTGRES_DB:-$user}"
export PGDATA="${PGDATA:-/var/lib/postgresql/data}"
mkdir -p "$PGDATA" /run/postgresql && chown postgres:postgres "$PGDATA" /run/postgresql
chmod 0700 "$PGDATA"
as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  echo "stand-in: initialising $PGDATA"
  printf '%s\n' "$POSTGRES_PASSWORD" > /tmp/pwfile && chown postgres /tmp/pwfile
  as_postgres initdb --username="$user" --pwfile=/tmp/pwfile --auth-local=trust \
    --auth-host=scram-sha-256 >/dev/null
  rm -f /tmp/pwfile
  echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
  if [ "$db" != postgres ]; then
    echo "CREATE DATABASE \"$db\";" | as_postgres postgres --single -D "$PGDATA" postgres >/dev/null
  fi
  if compgen -G "/docker-entrypoint-initdb.d/*.sh" >/dev/null; then
    as_postgres pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
    export POSTGRES_USER="$user" PGHOST=/run/postgresql
    for script in /docker-entrypoint-initdb.d/*.sh; do
      echo "stand-in: sourcing $script"
      # shellcheck disable=SC1090
      as_postgres env "PATH=$PATH" bash -c ". '$script'"
    done
    as_postgres pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
  fi
fi
exec setpriv --reuid=postgres --regid=postgres --init-groups postgres -D "$PGDATA" -c listen_addresses='*'
