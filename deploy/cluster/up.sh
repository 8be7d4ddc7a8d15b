#!/usr/bin/env bash
# `make cluster` (issue 20 section 1): the multi-node layout on loopback, on one machine.
#   primary   the local PostgreSQL ($PGHOST:$PGPORT), database $CLUSTER_DB_NAME
#   replica   a streaming hot standby made by pg_basebackup -R into var/cluster/replica
#   redis     a private redis-server (cache, rate limits) on $CLUSTER_REDIS_PORT
#   web       two gunicorn nodes (production settings) on $CLUSTER_WEB_PORTS
#   lb        nginx on $CLUSTER_LB_PORT, round robin over the two nodes
#   workers   two `manage.py db_worker` processes, one `audit_seal --every 30` sidecar
# Every process started leaves a pid file in var/cluster/run; `make cluster-stop` (down.sh)
# stops exactly those. Logs: var/cluster/log. Never part of `make test`.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$ROOT"

need() { command -v "$1" >/dev/null 2>&1 || { echo "make cluster: $1 is not installed. $2" >&2; exit 1; }; }
need psql "Install the PostgreSQL client (Debian: postgresql-client)."
need pg_basebackup "Install the PostgreSQL client (Debian: postgresql-client)."
need redis-server "Install Redis (Debian: apt-get install redis-server)."
need nginx "Install nginx (Debian: apt-get install nginx); only the binary is used, the system site is not touched."
[ -x "$PG_BINDIR/pg_ctl" ] || { echo "make cluster: no pg_ctl in PG_BINDIR=$PG_BINDIR" >&2; exit 1; }
[ -x "$BIN/gunicorn" ] || { echo "make cluster: no $BIN/gunicorn (run make install)" >&2; exit 1; }

if ls "$RUN"/*.pid >/dev/null 2>&1; then
  echo "make cluster: var/cluster/run holds pid files; run 'make cluster-stop' first." >&2
  exit 1
fi
mkdir -p "$RUN" "$LOG" "$STATE/media" "$STATE/nginx"
# Half a cluster is worse than none: on any failure, stop what was already started.
trap 'echo "make cluster failed; stopping what it started (logs: $LOG)" >&2; "$ROOT/deploy/cluster/down.sh"' ERR

# --- Environment shared by every app process ------------------------------------------------
ENV_FILE="$STATE/cluster.env"
if [ ! -f "$ENV_FILE" ]; then
  SECRET="$("$BIN/python" -c 'import secrets; print(secrets.token_urlsafe(64))')"
  AUDIT_KEY="$("$BIN/python" -c 'import secrets; print(secrets.token_urlsafe(48))')"
  cat >"$ENV_FILE" <<ENV
# Written once by deploy/cluster/up.sh; loopback only (plain HTTP, so no TLS redirect/HSTS).
DJANGO_SETTINGS_MODULE=config.settings.production
SECRET_KEY=$SECRET
AUDIT_HMAC_KEYS='{"cluster-1": "$AUDIT_KEY"}'
AUDIT_HMAC_KEY_ID=cluster-1
AUDIT_CHECKPOINT_DIR=$STATE/audit-checkpoints
ALLOWED_HOSTS=127.0.0.1,localhost
SECURE_SSL_REDIRECT=False
SECURE_HSTS_SECONDS=0
DATABASE_URL=postgres://$PRIMARY_USER@$PRIMARY_HOST:$PRIMARY_PORT/$DB_NAME
DATABASE_REPLICA_URL=postgres://$PRIMARY_USER@127.0.0.1:$REPLICA_PORT/$DB_NAME
REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0
MEDIA_ROOT=$STATE/media
ENV
fi
set -a; source "$ENV_FILE"; set +a

# --- Primary: database, replication access ----------------------------------------------------
if [ "$(psql_primary -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'")" != 1 ]; then
  psql_primary -d postgres -c "CREATE DATABASE \"$DB_NAME\""
fi
if [ "$(psql_primary -d postgres -c 'SHOW wal_level')" = minimal ]; then
  echo "make cluster: the primary has wal_level=minimal; set wal_level=replica and restart it." >&2
  exit 1
fi
replication_ok() {
  psql "host=$PRIMARY_HOST port=$PRIMARY_PORT user=$PRIMARY_USER dbname=postgres replication=true" \
    -Atqc IDENTIFY_SYSTEM >/dev/null 2>"$LOG/replication-check.err"
}
# A fresh Debian PostgreSQL has no replication rule for loopback TCP. When the primary is this
# machine's and already lets $PRIMARY_USER in over loopback without a password (the trust set-up
# of a development machine: we just connected that way), up.sh adds the same access for
# replication, marked, and reloads. CLUSTER_EDIT_PG_HBA=0 leaves pg_hba.conf alone.
HBA_LINE="host  replication  $PRIMARY_USER  127.0.0.1/32  trust  # added by infusionclinic make cluster"
if ! replication_ok && [ "${CLUSTER_EDIT_PG_HBA:-1}" = 1 ] && [ "$PRIMARY_HOST" = 127.0.0.1 ]; then
  HBA_FILE="$(psql_primary -d postgres -c 'SHOW hba_file')"
  if [ -w "$HBA_FILE" ] && ! grep -qF "$HBA_LINE" "$HBA_FILE"; then
    # First match wins in pg_hba.conf: the rule goes before the others.
    { echo "$HBA_LINE"; cat "$HBA_FILE"; } >"$HBA_FILE.ic-new" && cat "$HBA_FILE.ic-new" >"$HBA_FILE"
    rm -f "$HBA_FILE.ic-new"
    psql_primary -d postgres -c 'SELECT pg_reload_conf()' >/dev/null
    echo "added to $HBA_FILE (replication over loopback, as $PRIMARY_USER already connects): $HBA_LINE"
    sleep 0.5
  fi
fi
if ! replication_ok; then
  echo "make cluster: the primary refuses replication connections:" >&2
  cat "$LOG/replication-check.err" >&2
  echo "Add to its pg_hba.conf (psql -c 'SHOW hba_file'), then reload (SELECT pg_reload_conf()):" >&2
  echo "  host  replication  $PRIMARY_USER  127.0.0.1/32  trust    # or scram-sha-256 + ~/.pgpass" >&2
  exit 1
fi
echo "migrate (primary)"
"$BIN/python" manage.py migrate --noinput >"$LOG/migrate.log"
"$BIN/python" manage.py collectstatic --noinput >"$LOG/collectstatic.log"

# --- Replica: pg_basebackup -R (standby.signal + primary_conninfo), own slot, own port ---------
rm -rf "$REPLICA_DIR"
mkdir -p "$REPLICA_DIR"
chmod 700 "$REPLICA_DIR"
[ "$(id -u)" = 0 ] && chown "$PG_OS_USER" "$REPLICA_DIR" "$LOG"
if [ "$(psql_primary -d postgres -c "SELECT 1 FROM pg_replication_slots WHERE slot_name = '$SLOT'")" = 1 ]; then
  psql_primary -d postgres -c "SELECT pg_drop_replication_slot('$SLOT')" >/dev/null
fi
echo "pg_basebackup -> $REPLICA_DIR (slot $SLOT)"
as_pg pg_basebackup -h "$PRIMARY_HOST" -p "$PRIMARY_PORT" -U "$PRIMARY_USER" -D "$REPLICA_DIR" \
  -R -C -S "$SLOT" -X stream --checkpoint=fast
# Debian keeps postgresql.conf and pg_hba.conf outside the data directory, so the copy has none:
# the replica gets its own, loopback only.
as_pg tee "$REPLICA_DIR/postgresql.conf" >/dev/null <<CONF
port = $REPLICA_PORT
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
hot_standby = on
# A hot standby needs at least the primary's values of these.
max_connections = $(psql_primary -d postgres -c 'SHOW max_connections')
max_worker_processes = $(psql_primary -d postgres -c 'SHOW max_worker_processes')
max_wal_senders = $(psql_primary -d postgres -c 'SHOW max_wal_senders')
max_prepared_transactions = $(psql_primary -d postgres -c 'SHOW max_prepared_transactions')
max_locks_per_transaction = $(psql_primary -d postgres -c 'SHOW max_locks_per_transaction')
shared_buffers = 32MB
logging_collector = off
CONF
as_pg tee "$REPLICA_DIR/pg_hba.conf" >/dev/null <<HBA
host  all  all  127.0.0.1/32  trust
HBA
as_pg touch "$REPLICA_DIR/pg_ident.conf"
touch "$LOG/replica.log"; [ "$(id -u)" = 0 ] && chown "$PG_OS_USER" "$LOG/replica.log"
as_pg "$PG_BINDIR/pg_ctl" -D "$REPLICA_DIR" -l "$LOG/replica.log" -w -t 60 start >/dev/null
as_pg head -1 "$REPLICA_DIR/postmaster.pid" >"$RUN/replica.pid"

# --- Redis (private instance, no persistence: a cache) ---------------------------------------
mkdir -p "$STATE/redis"
redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --daemonize yes --pidfile "$RUN/redis.pid" \
  --dir "$STATE/redis" --save "" --appendonly no --logfile "$LOG/redis.log"
for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done

# --- Two web nodes ------------------------------------------------------------------------------
i=0
for port in "${WEB_PORTS[@]}"; do
  i=$((i + 1))
  "$BIN/gunicorn" config.wsgi:application --bind "127.0.0.1:$port" --workers "$WEB_WORKERS" \
    --daemon --pid "$RUN/web$i.pid" --name "ic-cluster-web$i" --control-socket "$RUN/web$i.ctl" \
    --access-logfile "$LOG/web$i.access.log" --error-logfile "$LOG/web$i.log"
done

# --- Two task workers and the sealing sidecar -------------------------------------------------
"$BIN/python" manage.py newsletter_resume >>"$LOG/worker.log" 2>&1
for i in $(seq "$WORKERS"); do
  nohup "$BIN/python" manage.py db_worker --queue-name default --no-reload \
    --worker-id "cluster-worker-$i" >>"$LOG/worker$i.log" 2>&1 &
  echo $! >"$RUN/worker$i.pid"
done
nohup "$BIN/python" manage.py audit_seal --every 30 >>"$LOG/seal.log" 2>&1 &
echo $! >"$RUN/seal.pid"

# --- Load balancer ------------------------------------------------------------------------------
UPSTREAMS=""
for port in "${WEB_PORTS[@]}"; do UPSTREAMS+="    server 127.0.0.1:$port max_fails=1 fail_timeout=5s;"$'\n'; done
cat >"$STATE/nginx/nginx.conf" <<NGINX
# Written by deploy/cluster/up.sh (the production example is deploy/nginx/infusionclinic.conf).
worker_processes 1;
pid $RUN/nginx.pid;
error_log $LOG/nginx.error.log warn;
events { worker_connections 256; }
http {
  access_log $LOG/nginx.access.log;
  client_body_temp_path $STATE/nginx/body;
  proxy_temp_path $STATE/nginx/proxy;
  fastcgi_temp_path $STATE/nginx/fastcgi;
  uwsgi_temp_path $STATE/nginx/uwsgi;
  scgi_temp_path $STATE/nginx/scgi;
  client_max_body_size 1m;
  upstream infusionclinic {
$UPSTREAMS  }
  server {
    listen 127.0.0.1:$LB_PORT;
    # Secure-message attachments (issue 18): up to 10 MiB plus the form.
    location ~ ^/(api/v1/)?messages/ {
      client_max_body_size 12m;
      proxy_pass http://infusionclinic;
      proxy_set_header Host \$http_host;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto \$scheme;
      add_header X-Upstream \$upstream_addr always;
      proxy_next_upstream error timeout;
    }
    location / {
      proxy_pass http://infusionclinic;
      proxy_set_header Host \$http_host;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto \$scheme;
      # Which node answered (for the demo and the fault tests); a node that refuses the
      # connection is skipped, a request already sent is never replayed on the other node.
      add_header X-Upstream \$upstream_addr always;
      proxy_next_upstream error timeout;
    }
  }
}
NGINX
nginx -p "$STATE/nginx" -c "$STATE/nginx/nginx.conf" -t -q
nginx -p "$STATE/nginx" -c "$STATE/nginx/nginx.conf"

# --- Wait until every node answers -------------------------------------------------------------
for port in "${WEB_PORTS[@]}" "$LB_PORT"; do
  for _ in $(seq 100); do
    curl -fsS "http://127.0.0.1:$port/api/v1/health" >/dev/null 2>&1 && break
    sleep 0.2
  done
  curl -fsS "http://127.0.0.1:$port/api/v1/health" >/dev/null \
    || { echo "make cluster: nothing answers on port $port (see $LOG)" >&2; exit 1; }
done
echo "Cluster up: http://127.0.0.1:$LB_PORT/ -> nodes ${WEB_PORTS[*]}; replica :$REPLICA_PORT;" \
  "redis :$REDIS_PORT; $WORKERS workers. Stop: make cluster-stop"
