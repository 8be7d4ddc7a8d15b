# Shared by up.sh and down.sh (issue 20 section 1): where the loopback cluster keeps its state and
# which ports it uses. Every value can be overridden from the environment.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STATE="${CLUSTER_STATE:-$ROOT/var/cluster}"
RUN="$STATE/run"   # pid files of everything up.sh started
LOG="$STATE/log"
BIN="${BIN:-$ROOT/.venv/bin}"

# The local PostgreSQL is the primary (libpq variables, as psql uses them).
PRIMARY_HOST="${PGHOST:-127.0.0.1}"
PRIMARY_PORT="${PGPORT:-5432}"
PRIMARY_USER="${PGUSER:-postgres}"
DB_NAME="${CLUSTER_DB_NAME:-ic_cluster}"
REPLICA_PORT="${CLUSTER_REPLICA_PORT:-5433}"
REPLICA_DIR="$STATE/replica"
SLOT="${CLUSTER_REPLICATION_SLOT:-ic_cluster_replica}"
PG_BINDIR="${PG_BINDIR:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}"
# PostgreSQL refuses to run as root: as root, the replica runs as this operating-system user.
PG_OS_USER="${PG_OS_USER:-postgres}"

REDIS_PORT="${CLUSTER_REDIS_PORT:-6380}"
WEB_PORTS=(${CLUSTER_WEB_PORTS:-8101 8102})
WEB_WORKERS="${CLUSTER_WEB_WORKERS:-2}"   # gunicorn processes per node
WORKERS="${CLUSTER_WORKERS:-2}"           # db_worker processes
LB_PORT="${CLUSTER_LB_PORT:-8100}"

psql_primary() {
  psql -h "$PRIMARY_HOST" -p "$PRIMARY_PORT" -U "$PRIMARY_USER" -v ON_ERROR_STOP=1 -Atq "$@"
}

as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u "$PG_OS_USER" -- "$@"; else "$@"; fi
}

# A pid file names a process we started only while that process still runs the program we gave
# it: a pid reused by something else after a crash is never killed.
pid_alive() {  # pid_alive FILE PATTERN
  local file="$1" pattern="$2" pid
  [ -s "$file" ] || return 1
  pid="$(cat "$file")"
  [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$pattern"
}
