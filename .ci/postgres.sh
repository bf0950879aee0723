#!/usr/bin/env bash
# Start a throwaway PostgreSQL server (Debian's package, installed when missing and possible) for the catalog
# tests. Prints the SQLAlchemy URL on stdout; prints nothing (and says why on stderr) when none can run.
# Stop it with: .ci/postgres.sh stop
set -uo pipefail
PORT=${PRIVSYNTH_PG_PORT:-54329}
DIR=/tmp/privsynth-ci-postgres

pgbin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }
as_postgres() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

if [ "${1:-}" = stop ]; then
  BIN=$(pgbin); [ -n "$BIN" ] && [ -d "$DIR/data" ] && as_postgres "$BIN/pg_ctl" -D "$DIR/data" -m fast stop >/dev/null 2>&1
  exit 0
fi
BIN=$(pgbin)
if [ -z "$BIN" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing Debian's postgresql package for the catalog tests" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq postgresql >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq postgresql >/dev/null 2>&1; }
  BIN=$(pgbin)
fi
if [ -z "$BIN" ]; then
  echo "no PostgreSQL server available: the PostgreSQL catalog tests will be skipped" >&2
  exit 0
fi
if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
  echo "no postgres user to run the server as: the PostgreSQL catalog tests will be skipped" >&2
  exit 0
fi
as_postgres "$BIN/pg_ctl" -D "$DIR/data" -m fast stop >/dev/null 2>&1
rm -rf "$DIR" && mkdir -p "$DIR"
[ "$(id -u)" = 0 ] && chown postgres "$DIR"
if ! as_postgres "$BIN/initdb" -D "$DIR/data" -A trust -U postgres >"$DIR/initdb.log" 2>&1; then
  echo "initdb failed (see $DIR/initdb.log): the PostgreSQL catalog tests will be skipped" >&2
  exit 0
fi
if ! as_postgres "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 \
    -o "-p $PORT -k $DIR -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null 2>&1; then
  echo "the PostgreSQL server did not start (see $DIR/server.log): its catalog tests will be skipped" >&2
  exit 0
fi
echo "postgresql+psycopg://postgres@127.0.0.1:$PORT/postgres"
