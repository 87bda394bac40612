#!/usr/bin/env bash
# A real S3 server that enforces Object Lock, for the archive tests: a single-node Ceph cluster (memstore, no disk)
# with the RADOS Gateway on 127.0.0.1:7480. Test use only: authentication between the daemons is switched off.
#
#   scripts/s3-test-server.sh start DIR   start everything inside DIR (created if missing); stdout carries ONLY the
#                                         `export …` line to eval; progress goes to stderr
#   scripts/s3-test-server.sh stop DIR    stop every daemon started in DIR, by its recorded PID
#
# Needs the Debian packages ceph-mon ceph-osd ceph-mgr radosgw ceph-common.
set -euo pipefail

MON_PORT=6789
RGW_PORT=7480
ACCESS_KEY=ffauditTestAccessKey
SECRET_KEY=ffauditTestSecretKey0123456789abcdefghij

log() { printf 's3-test-server: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

usage() { die "usage: $0 start|stop DIR"; }
[ $# -eq 2 ] || usage
cmd=$1
dir=$2

port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Stops the daemons whose PIDs were recorded in DIR/pids (never by name: other clusters may run here).
stop_all() {
  local d=$1
  [ -f "$d/pids" ] || return 0
  local pids
  pids=$(tac "$d/pids")
  for pid in $pids; do kill "$pid" 2>/dev/null || true; done
  for _ in $(seq 1 50); do
    local alive=0
    for pid in $pids; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ $alive -eq 0 ] && break
    sleep 0.1
  done
  for pid in $pids; do kill -9 "$pid" 2>/dev/null || true; done
  rm -f "$d/pids"
}

# Each daemon forks into the background and writes its pid file; record that PID.
record_pid() {
  local file=$1
  for _ in $(seq 1 100); do
    if [ -s "$file" ]; then
      cat "$file" >>"$dir/pids"
      return 0
    fi
    sleep 0.1
  done
  die "no pid file $file"
}

# Ceph 16 with auth none sometimes refuses a client's first monitor commands: retry.
retry() {
  local n=0
  until "$@" >>"$dir/setup.log" 2>&1; do
    n=$((n + 1))
    [ $n -ge 8 ] && { log "failed after $n tries: $*"; return 1; }
    sleep 1
  done
}

ceph_cmd() { timeout 20 ceph -c "$dir/ceph.conf" "$@"; }

start() {
  for b in ceph-mon ceph-osd ceph-mgr radosgw radosgw-admin monmaptool ceph uuidgen; do
    command -v "$b" >/dev/null 2>&1 || die "$b not found (install ceph-mon ceph-osd ceph-mgr radosgw ceph-common)"
  done
  port_taken $MON_PORT && die "127.0.0.1:$MON_PORT is already in use: refusing to start"
  port_taken $RGW_PORT && die "127.0.0.1:$RGW_PORT is already in use: refusing to start"
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  [ -e "$dir/pids" ] && die "$dir already holds a running cluster (stop it first)"
  mkdir -p "$dir/mon-a" "$dir/osd-0" "$dir/mgr-x" "$dir/rgw" "$dir/run" "$dir/log"
  : >"$dir/pids"
  # Whatever ends the start early (a failed command under set -e, or die), stop what was started.
  trap 'log "start failed; stopping what was started (see $dir/setup.log and $dir/log)"; stop_all "$dir"' EXIT

  local fsid
  fsid=$(uuidgen)
  cat >"$dir/ceph.conf" <<EOF
[global]
fsid = $fsid
mon host = v1:127.0.0.1:$MON_PORT
mon initial members = a
auth cluster required = none
auth service required = none
auth client required = none
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
mon allow pool delete = true
osd crush chooseleaf type = 0
run dir = $dir/run
log file = $dir/log/\$name.log
admin socket = $dir/run/\$name.asok
pid file = $dir/run/\$name.pid
mon data = $dir/mon-\$id
osd data = $dir/osd-\$id
mgr data = $dir/mgr-\$id
osd objectstore = memstore
memstore device bytes = 2147483648
osd max object name len = 460
osd max object namespace len = 64
mon warn on pool no redundancy = false
mon osd full ratio = 0.98
mon osd nearfull ratio = 0.95
osd pool default pg autoscale mode = off
osd pool default pg num = 8
osd pool default pgp num = 8
mon max pg per osd = 1000

[client.rgw]
rgw frontends = beast endpoint=127.0.0.1:$RGW_PORT
rgw data = $dir/rgw
rgw dns name = localhost
EOF

  log "creating the monitor"
  monmaptool --create --add a "127.0.0.1:$MON_PORT" --fsid "$fsid" "$dir/monmap" >>"$dir/setup.log" 2>&1
  ceph-mon -c "$dir/ceph.conf" --mkfs -i a --monmap "$dir/monmap" >>"$dir/setup.log" 2>&1
  ceph-mon -c "$dir/ceph.conf" -i a >>"$dir/setup.log" 2>&1
  record_pid "$dir/run/mon.a.pid"

  # The cluster answering must be ours (same fsid), not another one on the same port.
  local answered=""
  for _ in $(seq 1 30); do
    answered=$(ceph_cmd fsid 2>/dev/null || true)
    [ -n "$answered" ] && break
    sleep 0.5
  done
  [ "$answered" = "$fsid" ] || { log "the monitor answering is not ours (fsid ${answered:-none})"; false; }

  log "creating the OSD"
  retry ceph_cmd osd create
  ceph-osd -c "$dir/ceph.conf" -i 0 --mkfs >>"$dir/setup.log" 2>&1
  local started=0
  for _ in $(seq 1 5); do
    rm -f "$dir/run/osd.0.pid"
    if ceph-osd -c "$dir/ceph.conf" -i 0 >>"$dir/setup.log" 2>&1; then
      started=1
      break
    fi
    sleep 1
  done
  [ $started -eq 1 ] || { log "the OSD did not start"; false; }
  record_pid "$dir/run/osd.0.pid"

  log "starting the manager"
  ceph-mgr -c "$dir/ceph.conf" -i x >>"$dir/setup.log" 2>&1
  record_pid "$dir/run/mgr.x.pid"
  retry ceph_cmd osd crush add osd.0 1.0 host=localhost root=default

  log "starting the RADOS Gateway"
  radosgw -c "$dir/ceph.conf" -n client.rgw >>"$dir/setup.log" 2>&1
  record_pid "$dir/run/client.rgw.pid"
  local up=0
  for _ in $(seq 1 120); do
    if curl -s -o /dev/null "http://127.0.0.1:$RGW_PORT/"; then
      up=1
      break
    fi
    sleep 0.5
  done
  [ $up -eq 1 ] || { log "the gateway did not answer on 127.0.0.1:$RGW_PORT"; false; }

  log "creating the test user"
  retry timeout 60 radosgw-admin -c "$dir/ceph.conf" user create --uid=test --display-name=test \
    --access-key="$ACCESS_KEY" --secret="$SECRET_KEY"
  trap - EXIT
  log "ready on http://127.0.0.1:$RGW_PORT (stop with: $0 stop $dir)"
  echo "export FFAUDIT_TEST_S3_ENDPOINT=http://127.0.0.1:$RGW_PORT AWS_ACCESS_KEY_ID=$ACCESS_KEY AWS_SECRET_ACCESS_KEY=$SECRET_KEY AWS_REGION=us-east-1"
}

case $cmd in
  start) start ;;
  stop)
    [ -d "$dir" ] || die "no such directory: $dir"
    stop_all "$dir"
    log "stopped"
    ;;
  *) usage ;;
esac
