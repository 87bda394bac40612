#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the team-server tests and benchmarks (and for a developer trying `ffaudit serve`).
# Trust authentication on 127.0.0.1 only: never use this cluster for anything but tests.
#
#   scripts/pg-test-server.sh start DIR   create and start a cluster inside DIR (created if missing) on a free port;
#                                         stdout carries ONLY the `export FFAUDIT_TEST_PG_URL=…` line to eval
#   scripts/pg-test-server.sh stop DIR    stop it (fast shutdown) and remove DIR
#   scripts/pg-test-server.sh restart DIR start again, on its port, a cluster whose server died (a crash test's kill -9)
#                                         or was halted
#   scripts/pg-test-server.sh halt DIR    stop it and keep DIR (a benchmark's cached data set)
#
# Needs PostgreSQL's server binaries (Debian: apt-get install postgresql; initdb, pg_ctl on PATH or under
# /usr/lib/postgresql/*/bin). PostgreSQL refuses to run as root, so as root the cluster belongs to the `postgres`
# system user.
set -euo pipefail

log() { printf 'pg-test-server: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
[ $# -eq 2 ] || die "usage: $0 start|stop|restart|halt DIR"
cmd=$1
dir=$2

bindir=""
if ! command -v pg_ctl >/dev/null 2>&1; then
  bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
  [ -n "$bindir" ] || die "PostgreSQL is not installed (apt-get install -y --no-install-recommends postgresql)"
  bindir="$bindir/"
fi

as_owner() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

case "$cmd" in
start)
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  if [ "$(id -u)" -eq 0 ]; then chown postgres: "$dir"; fi
  chmod 700 "$dir"
  # A free port: random in the dynamic range, checked; never assume 5432 is ours.
  port=""
  for _ in $(seq 1 50); do
    p=$((20000 + RANDOM % 30000))
    if ! port_taken "$p"; then port=$p; break; fi
  done
  [ -n "$port" ] || die "no free port found"
  cleanup() { as_owner "${bindir}pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true; }
  trap 'log "start failed; see $dir/log"; cleanup' ERR
  as_owner "${bindir}initdb" -D "$dir/data" -A trust -U ffaudit --no-sync >"$dir/initdb.log" 2>&1
  as_owner "${bindir}pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 30 \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null
  echo "$port" >"$dir/port"
  trap - ERR
  log "PostgreSQL on 127.0.0.1:$port (data in $dir/data)"
  echo "export FFAUDIT_TEST_PG_URL=postgres://ffaudit@127.0.0.1:$port/postgres"
  ;;
restart)
  [ -f "$dir/port" ] || die "no cluster in $dir"
  dir=$(cd "$dir" && pwd) # the socket directory must be absolute
  port=$(cat "$dir/port")
  # The killed postmaster's children leave on their own once they notice; until then the old shared memory is in
  # use and a new postmaster refuses to start. Try for a while.
  for _ in $(seq 1 50); do
    if as_owner "${bindir}pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 30 \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null 2>&1; then
      log "PostgreSQL on 127.0.0.1:$port restarted (data in $dir/data)"
      exit 0
    fi
    sleep 0.2
  done
  die "could not restart the cluster in $dir; see $dir/log"
  ;;
halt)
  [ -d "$dir/data" ] || exit 0
  as_owner "${bindir}pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
  ;;
stop)
  [ -d "$dir" ] || exit 0
  if [ -d "$dir/data" ]; then as_owner "${bindir}pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true; fi
  rm -rf "$dir"
  ;;
*) die "usage: $0 start|stop|restart|halt DIR" ;;
esac
