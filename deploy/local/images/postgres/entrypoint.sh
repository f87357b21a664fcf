#!/bin/sh
# Initializes $PGDATA on the first start (superuser POSTGRES_USER with
# POSTGRES_PASSWORD, database POSTGRES_DB, passwords required over TCP),
# then runs the command as the user postgres, listening on every address.
set -eu
as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }

mkdir -p "$PGDATA" /run/postgresql
chown postgres:postgres "$PGDATA" /run/postgresql
chmod 700 "$PGDATA"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  user=${POSTGRES_USER:-postgres}
  password_file=$(mktemp)
  printf '%s\n' "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is required}" >"$password_file"
  chown postgres "$password_file"
  as_postgres initdb --username="$user" --pwfile="$password_file" \
    --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  rm -f "$password_file"
  echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
  database=${POSTGRES_DB:-$user}
  if [ "$database" != postgres ]; then
    as_postgres pg_ctl --wait --silent -o "-c listen_addresses=''" start
    as_postgres psql --quiet --username="$user" --dbname=postgres \
      --command="CREATE DATABASE \"$database\""
    as_postgres pg_ctl --wait --silent --mode=fast stop
  fi
fi
if [ "$1" = postgres ]; then
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$@" -c listen_addresses='*'
fi
exec "$@"
