#!/usr/bin/env bash
# `make cluster-stop`: stops exactly what up.sh started (the pid files in var/cluster/run), drops
# the replica's replication slot on the primary (a forgotten slot makes the primary keep WAL
# forever) and removes the replica's data directory (the next `make cluster` copies it afresh).
# The primary, its database and the logs stay.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
set +e

stop() {  # stop NAME PATTERN
  local file="$RUN/$1.pid" pid
  [ -f "$file" ] || return 0
  if pid_alive "$file" "$2"; then
    pid="$(cat "$file")"
    kill -TERM "$pid"
    # A worker finishes its current task on TERM: give it 30 s before KILL.
    for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then echo "$1 ($pid) ignored TERM; KILL"; kill -KILL "$pid"; fi
    echo "stopped $1 ($pid)"
  else
    echo "$1: not running (stale pid file)"
  fi
  rm -f "$file"
}

stop nginx "nginx: master"
for f in "$RUN"/web*.pid; do [ -e "$f" ] && stop "$(basename "$f" .pid)" "gunicorn"; done
for f in "$RUN"/worker*.pid; do [ -e "$f" ] && stop "$(basename "$f" .pid)" "db_worker"; done
stop seal "audit_seal"
stop redis "redis-server"
rm -f "$RUN"/web*.ctl
if [ -f "$RUN/replica.pid" ]; then
  if [ -f "$REPLICA_DIR/postmaster.pid" ]; then
    as_pg "$PG_BINDIR/pg_ctl" -D "$REPLICA_DIR" -m fast -w stop >/dev/null && echo "stopped replica"
  else
    echo "replica: not running"
  fi
  rm -f "$RUN/replica.pid"
fi
if [ "$(psql_primary -d postgres -c "SELECT 1 FROM pg_replication_slots WHERE slot_name = '$SLOT' AND NOT active")" = 1 ]; then
  psql_primary -d postgres -c "SELECT pg_drop_replication_slot('$SLOT')" >/dev/null && echo "dropped slot $SLOT"
fi
rm -rf "$REPLICA_DIR"
exit 0
