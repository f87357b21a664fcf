#!/usr/bin/env bash
# A local cluster on loopback for the cluster tests (deploy/local/test-cluster.sh):
# three RabbitMQ nodes joined into one cluster, and a PostgreSQL primary with
# a streaming standby. It is the one place that starts, breaks and stops these
# nodes; everything it makes lives under one directory (FILA_CLUSTER_DIR,
# default target/cluster), which `down` removes.
#
#   cluster.sh up                    start every node (what already runs is kept)
#   cluster.sh down                  stop every node, remove the directory
#   cluster.sh rabbit kill N         SIGKILL node N's Erlang VM
#   cluster.sh rabbit wipe N         delete node N's data (the node must be down)
#   cluster.sh rabbit stop N         stop node N gracefully
#   cluster.sh rabbit start N        start node N (a member rejoins by itself)
#   cluster.sh rabbit replace N      after kill + wipe: forget the old member,
#                                    join an empty node of the same name, and add
#                                    it to every quorum queue
#   cluster.sh rabbit status         the cluster as a running node sees it
#   cluster.sh pg kill-primary       SIGKILL the primary's postmaster and children
#   cluster.sh pg promote            promote the standby, wait until it takes writes
#   cluster.sh pg rebuild-standby    make the stopped node a standby of the primary
#   cluster.sh pg sync on|off        make the standby synchronous, or asynchronous
#   cluster.sh pg pause-replication  SIGSTOP the primary's WAL sender: the standby
#                                    falls behind (with asynchronous replication,
#                                    what the primary commits meanwhile is only
#                                    on the primary)
#   cluster.sh pg resume-replication SIGCONT it
#   cluster.sh pg status             each node's role and the replication state
#
# `up` writes $DIR/env, to source: CLUSTER_AMQP_URL, CLUSTER_AMQP_PORTS,
# CLUSTER_DATABASE_URL and the nodes' names and ports.
#
# Ports (override with the variables): RabbitMQ AMQP CLUSTER_AMQP_PORT_1..3
# (5701-5703), distribution CLUSTER_DIST_PORT_1..3 (25701-25703); PostgreSQL
# CLUSTER_PG_PORT_1 (5441, the first primary) and CLUSTER_PG_PORT_2 (5442, the
# first standby). After a promotion the two PostgreSQL nodes swap roles; the
# database URL names both, with target_session_attrs=read-write.
#
# Run as root (the RabbitMQ nodes run as the `rabbitmq` user, PostgreSQL as
# `postgres`, like the machine's own servers).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DIR=${FILA_CLUSTER_DIR:-$ROOT/target/cluster}
AMQP_PORTS=("${CLUSTER_AMQP_PORT_1:-5701}" "${CLUSTER_AMQP_PORT_2:-5702}" "${CLUSTER_AMQP_PORT_3:-5703}")
DIST_PORTS=("${CLUSTER_DIST_PORT_1:-25701}" "${CLUSTER_DIST_PORT_2:-25702}" "${CLUSTER_DIST_PORT_3:-25703}")
PG_PORTS=("${CLUSTER_PG_PORT_1:-5441}" "${CLUSTER_PG_PORT_2:-5442}")
BOOT_SECS=${CLUSTER_BOOT_SECS:-120}

say() { echo "cluster: $*"; }
fail() {
  echo "cluster: $*" >&2
  exit 1
}

port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

[ "$(id -u)" -eq 0 ] || fail "run as root (the nodes run as the rabbitmq and postgres users)"

# --- RabbitMQ ---------------------------------------------------------------

node_name() { echo "fila$1@localhost"; }
node_dir() { echo "$DIR/rabbit/$1"; }

check_node_number() {
  case "${1:-}" in
    1 | 2 | 3) ;;
    *) fail "a RabbitMQ node is 1, 2 or 3, not '${1:-}'" ;;
  esac
}

# Runs a command, showing its output only when it fails.
quietly() {
  local out
  out=$("$@" 2>&1) || {
    echo "$out" >&2
    fail "failed: $*"
  }
}

ctl() {
  local n=$1
  shift
  rabbitmqctl -n "$(node_name "$n")" "$@"
}

node_running() {
  ctl "$1" -q ping >/dev/null 2>&1
}

# The node's Erlang VM, from the pid file it writes once booted.
node_pid() {
  local file
  file="$(node_dir "$1")/pid"
  [ -s "$file" ] && cat "$file"
}

# Starts node N's server in a session of its own, without waiting for it.
spawn_node() {
  local n=$1 dir
  dir=$(node_dir "$n")
  mkdir -p "$dir/mnesia" "$dir/log"
  cat >"$dir/rabbitmq.conf" <<EOF
listeners.tcp.local = 127.0.0.1:${AMQP_PORTS[$((n - 1))]}
log.console = false
log.file.level = info
EOF
  echo "[]." >"$dir/enabled_plugins"
  : >"$dir/rabbitmq-env.conf"
  chown -R rabbitmq:rabbitmq "$dir"
  rm -f "$dir/pid"
  (
    cd "$dir"
    export RABBITMQ_NODENAME
    RABBITMQ_NODENAME=$(node_name "$n")
    export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
    export RABBITMQ_DIST_PORT=${DIST_PORTS[$((n - 1))]}
    export RABBITMQ_MNESIA_BASE=$dir/mnesia
    export RABBITMQ_LOG_BASE=$dir/log
    export RABBITMQ_CONFIG_FILE=$dir/rabbitmq.conf
    export RABBITMQ_ENABLED_PLUGINS_FILE=$dir/enabled_plugins
    export RABBITMQ_CONF_ENV_FILE=$dir/rabbitmq-env.conf
    export RABBITMQ_PID_FILE=$dir/pid
    export ERL_EPMD_ADDRESS=127.0.0.1
    setsid rabbitmq-server </dev/null >>"$dir/server.out" 2>&1 &
    echo $! >"$dir/session"
  )
}

await_node() {
  local n=$1 name deadline
  name=$(node_name "$n")
  deadline=$((SECONDS + BOOT_SECS))
  until ctl "$n" -q await_startup --timeout 10 >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ]; then
      tail -n 30 "$(node_dir "$n")/server.out" >&2 || true
      fail "$name did not boot within $BOOT_SECS s (log: $(node_dir "$n")/log)"
    fi
    sleep 1
  done
}

# Whether node N's cluster includes fila1.
node_joined() {
  ctl "$1" -q cluster_status --formatter json 2>/dev/null | grep -q "\"$(node_name 1)\""
}

start_node() {
  local n=$1
  if node_running "$n"; then
    say "$(node_name "$n") already runs"
    return
  fi
  for port in "${AMQP_PORTS[$((n - 1))]}" "${DIST_PORTS[$((n - 1))]}"; do
    port_open "$port" && fail "port $port is taken by another process"
  done
  say "starting $(node_name "$n") (AMQP ${AMQP_PORTS[$((n - 1))]}, distribution ${DIST_PORTS[$((n - 1))]})"
  spawn_node "$n"
}

join_node() {
  local n=$1
  node_joined "$n" && return
  say "joining $(node_name "$n") to $(node_name 1)"
  quietly ctl "$n" -q stop_app
  quietly ctl "$n" -q join_cluster "$(node_name 1)"
  quietly ctl "$n" -q start_app
  await_node "$n"
}

# Kills node N's processes: its Erlang VM, and whatever else runs in the
# session it was started in.
kill_node() {
  local n=$1 pid session
  pid=$(node_pid "$n" || true)
  [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null || true
  session=$(cat "$(node_dir "$n")/session" 2>/dev/null || true)
  [ -n "$session" ] && pkill -KILL -s "$session" 2>/dev/null || true
  rm -f "$(node_dir "$n")/pid"
}

# Waits until nothing listens on node N's AMQP port any more.
await_node_down() {
  local n=$1 deadline
  deadline=$((SECONDS + 30))
  while port_open "${AMQP_PORTS[$((n - 1))]}" || node_running "$n"; do
    [ $SECONDS -ge $deadline ] && fail "$(node_name "$n") is still up"
    sleep 0.5
  done
}

# A running node other than N, to act from.
live_node() {
  local n=$1
  for other in 1 2 3; do
    [ "$other" = "$n" ] && continue
    node_running "$other" && {
      echo "$other"
      return
    }
  done
  fail "no other RabbitMQ node runs"
}

rabbit() {
  local action=${1:-} n=${2:-}
  case "$action" in
    kill)
      check_node_number "$n"
      [ -n "$(node_pid "$n" || true)" ] || node_running "$n" || fail "$(node_name "$n") does not run"
      say "SIGKILL to $(node_name "$n")'s Erlang VM"
      kill_node "$n"
      await_node_down "$n"
      ;;
    wipe)
      check_node_number "$n"
      node_running "$n" && fail "$(node_name "$n") runs: kill or stop it before wiping it"
      say "wiping $(node_name "$n")'s data"
      rm -rf "$(node_dir "$n")/mnesia"
      ;;
    stop)
      check_node_number "$n"
      node_running "$n" || fail "$(node_name "$n") does not run"
      say "stopping $(node_name "$n")"
      ctl "$n" -q stop >/dev/null
      await_node_down "$n"
      ;;
    start)
      check_node_number "$n"
      start_node "$n"
      await_node "$n"
      say "$(node_name "$n") runs"
      ;;
    replace)
      check_node_number "$n"
      node_running "$n" && fail "$(node_name "$n") runs: kill and wipe it before replacing it"
      local live
      live=$(live_node "$n")
      say "forgetting $(node_name "$n") on $(node_name "$live")"
      quietly ctl "$live" -q forget_cluster_node "$(node_name "$n")"
      rm -rf "$(node_dir "$n")/mnesia"
      start_node "$n"
      await_node "$n"
      quietly ctl "$n" -q stop_app
      quietly ctl "$n" -q reset
      quietly ctl "$n" -q join_cluster "$(node_name "$live")"
      quietly ctl "$n" -q start_app
      await_node "$n"
      say "adding $(node_name "$n") to every quorum queue"
      quietly rabbitmq-queues -n "$(node_name "$live")" -q grow "$(node_name "$n")" all
      say "$(node_name "$n") replaced"
      ;;
    status)
      ctl "$(live_node 0)" cluster_status
      ;;
    *) fail "rabbit kill|wipe|stop|start|replace N, or rabbit status" ;;
  esac
}

# --- PostgreSQL ---------------------------------------------------------------

PG_BIN=$(pg_config --bindir 2>/dev/null || true)
if [ -z "$PG_BIN" ] || [ ! -x "$PG_BIN/initdb" ]; then
  PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
fi

pg_dir() { echo "$DIR/pg/$1"; }
pg_port() { echo "${PG_PORTS[$(($1 - 1))]}"; }
other_pg() { echo $((3 - $1)); }

as_postgres() {
  runuser -u postgres -- "$@"
}

# The node that is (or, after a kill, was) the primary: 1 or 2.
primary() {
  cat "$DIR/pg/primary" 2>/dev/null || echo 1
}

psql_on() {
  local n=$1
  shift
  psql -h 127.0.0.1 -p "$(pg_port "$n")" -U postgres -d postgres -XAtq "$@"
}

pg_running() {
  as_postgres "$PG_BIN/pg_ctl" -D "$(pg_dir "$1")/data" status >/dev/null 2>&1
}

start_pg() {
  local n=$1 dir
  dir=$(pg_dir "$n")
  pg_running "$n" && return
  port_open "$(pg_port "$n")" && fail "port $(pg_port "$n") is taken by another process"
  as_postgres "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t "$BOOT_SECS" \
    -o "-p $(pg_port "$n") -c unix_socket_directories='' -c listen_addresses=127.0.0.1 -c cluster_name=pg$n" \
    start >/dev/null ||
    fail "PostgreSQL node $n did not start (log: $dir/server.log)"
}

# Makes node N a standby of node `from` (a fresh copy, replaces its data).
make_standby() {
  local n=$1 from=$2 dir
  dir=$(pg_dir "$n")
  rm -rf "$dir/data"
  mkdir -p "$dir"
  chown postgres:postgres "$dir"
  as_postgres "$PG_BIN/pg_basebackup" -h 127.0.0.1 -p "$(pg_port "$from")" -U postgres \
    -D "$dir/data" -R -X stream -c fast >/dev/null ||
    fail "pg_basebackup from node $from failed"
  start_pg "$n"
}

# Waits until the primary lists the standby in pg_stat_replication with
# sync_state `state` (async or sync).
await_replication() {
  local state=$1 p deadline
  p=$(primary)
  deadline=$((SECONDS + 60))
  until [ "$(psql_on "$p" -c "SELECT sync_state FROM pg_stat_replication
      WHERE state = 'streaming' ORDER BY backend_start DESC LIMIT 1" 2>/dev/null)" = "$state" ]; do
    [ $SECONDS -ge $deadline ] && fail "the standby does not stream as $state replication"
    sleep 0.5
  done
}

pg_up() {
  local p s dir
  p=$(primary)
  s=$(other_pg "$p")
  dir=$(pg_dir "$p")
  if [ ! -d "$dir/data" ]; then
    say "initdb of the PostgreSQL primary (port $(pg_port "$p"))"
    mkdir -p "$dir"
    chown postgres:postgres "$DIR/pg" "$dir"
    as_postgres "$PG_BIN/initdb" -D "$dir/data" -A trust -U postgres >/dev/null
    cat >>"$dir/data/postgresql.conf" <<EOF
wal_level = replica
max_wal_senders = 10
wal_keep_size = '256MB'
hot_standby = on
fsync = off
EOF
  fi
  start_pg "$p"
  echo "$p" >"$DIR/pg/primary"
  if [ ! -d "$(pg_dir "$s")/data" ]; then
    say "pg_basebackup of the standby (port $(pg_port "$s"))"
    make_standby "$s" "$p"
  else
    start_pg "$s"
  fi
  await_replication async
}

pg_kill_node() {
  local n=$1 file pid
  file="$(pg_dir "$n")/data/postmaster.pid"
  pid=$(head -n 1 "$file" 2>/dev/null || true)
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  # The postmaster and its children at once, so that no backend outlives it.
  kill -KILL "$pid" $(pgrep -P "$pid") 2>/dev/null || true
  local deadline=$((SECONDS + 30))
  while kill -0 "$pid" 2>/dev/null || port_open "$(pg_port "$n")"; do
    [ $SECONDS -ge $deadline ] && fail "PostgreSQL node $n is still up"
    sleep 0.2
  done
}

# The pids of the WAL senders of node N (children of its postmaster).
walsenders() {
  local postmaster child
  postmaster=$(head -n 1 "$(pg_dir "$1")/data/postmaster.pid" 2>/dev/null) || return 0
  for child in $(pgrep -P "$postmaster"); do
    if grep -q walsender "/proc/$child/cmdline" 2>/dev/null; then
      echo "$child"
    fi
  done
}

pg() {
  local action=${1:-}
  case "$action" in
    kill-primary)
      local p
      p=$(primary)
      say "SIGKILL to the PostgreSQL primary (node $p, port $(pg_port "$p")) and its children"
      pg_kill_node "$p" || fail "the primary (node $p) does not run"
      ;;
    promote)
      local p s
      p=$(primary)
      s=$(other_pg "$p")
      pg_running "$p" && fail "the primary (node $p) still runs: kill it before promoting the standby"
      pg_running "$s" || fail "the standby (node $s) does not run"
      [ "$(psql_on "$s" -c 'SELECT pg_is_in_recovery()')" = t ] || fail "node $s is not a standby"
      say "promoting the standby (node $s, port $(pg_port "$s"))"
      as_postgres "$PG_BIN/pg_ctl" -D "$(pg_dir "$s")/data" -w promote >/dev/null
      local deadline=$((SECONDS + 60))
      until [ "$(psql_on "$s" -c 'SHOW transaction_read_only' 2>/dev/null)" = off ]; do
        [ $SECONDS -ge $deadline ] && fail "node $s does not take writes after its promotion"
        sleep 0.2
      done
      echo "$s" >"$DIR/pg/primary"
      say "node $s is the primary"
      ;;
    rebuild-standby)
      local p s
      p=$(primary)
      s=$(other_pg "$p")
      [ "$(psql_on "$p" -c 'SHOW transaction_read_only' 2>/dev/null)" = off ] ||
        fail "the primary (node $p) does not take writes"
      pg_kill_node "$s" || true
      say "rebuilding node $s (port $(pg_port "$s")) as the standby of node $p"
      make_standby "$s" "$p"
      psql_on "$p" -c "ALTER SYSTEM RESET synchronous_standby_names" -c "SELECT pg_reload_conf()" >/dev/null
      await_replication async
      say "node $s streams from node $p"
      ;;
    pause-replication | resume-replication)
      local p senders signal=STOP
      p=$(primary)
      [ "$action" = resume-replication ] && signal=CONT
      senders=$(walsenders "$p")
      [ -n "$senders" ] || fail "the primary (node $p) has no WAL sender"
      # One pid a word.
      kill "-$signal" $senders
      say "the primary's WAL sender got SIG$signal"
      ;;
    sync)
      local p names state
      p=$(primary)
      case "${2:-}" in
        on) names="'*'" state=sync ;;
        off) names="''" state=async ;;
        *) fail "pg sync on|off" ;;
      esac
      psql_on "$p" -c "ALTER SYSTEM SET synchronous_standby_names = $names" \
        -c "SELECT pg_reload_conf()" >/dev/null || fail "the primary (node $p) does not answer"
      await_replication "$state"
      say "$state replication"
      ;;
    status)
      local p
      p=$(primary)
      for n in 1 2; do
        local role
        if ! pg_running "$n"; then
          role=down
        elif [ "$(psql_on "$n" -c 'SELECT pg_is_in_recovery()' 2>/dev/null)" = t ]; then
          role=standby
        else
          role=primary
        fi
        echo "node $n (port $(pg_port "$n")): $role"
      done
      psql_on "$p" -c "SELECT application_name, state, sync_state FROM pg_stat_replication" 2>/dev/null || true
      ;;
    *) fail "pg kill-primary|promote|rebuild-standby|sync on|off|pause-replication|resume-replication|status" ;;
  esac
}

# --- up and down ----------------------------------------------------------------

write_env() {
  local hosts="" ports=""
  for port in "${AMQP_PORTS[@]}"; do
    hosts+="${hosts:+,}127.0.0.1:$port"
    ports+="${ports:+ }$port"
  done
  cat >"$DIR/env" <<EOF
CLUSTER_AMQP_URL=amqp://guest:guest@$hosts/%2f
CLUSTER_AMQP_PORTS="$ports"
CLUSTER_RABBIT_NODES="$(node_name 1) $(node_name 2) $(node_name 3)"
CLUSTER_DATABASE_URL=postgres://postgres@127.0.0.1:${PG_PORTS[0]},127.0.0.1:${PG_PORTS[1]}/postgres?target_session_attrs=read-write
CLUSTER_PG_PORTS="${PG_PORTS[*]}"
EOF
}

up() {
  local started=$SECONDS
  mkdir -p "$DIR/rabbit" "$DIR/pg"
  for n in 1 2 3; do start_node "$n"; done
  for n in 1 2 3; do await_node "$n"; done
  for n in 2 3; do join_node "$n"; done
  say "RabbitMQ: $(node_name 1), $(node_name 2), $(node_name 3) clustered ($((SECONDS - started)) s)"
  pg_up
  say "PostgreSQL: primary on node $(primary), streaming standby ($((SECONDS - started)) s)"
  write_env
  say "up in $((SECONDS - started)) s; environment in $DIR/env"
}

down() {
  local started=$SECONDS
  for n in 1 2 3; do
    [ -d "$(node_dir "$n")" ] || continue
    if node_running "$n"; then
      ctl "$n" -q stop >/dev/null 2>&1 || true
    fi
    kill_node "$n"
  done
  for n in 1 2; do
    [ -d "$(pg_dir "$n")/data" ] || continue
    as_postgres "$PG_BIN/pg_ctl" -D "$(pg_dir "$n")/data" -m immediate -w stop >/dev/null 2>&1 || true
    pg_kill_node "$n" || true
  done
  for port in "${AMQP_PORTS[@]}" "${DIST_PORTS[@]}" "${PG_PORTS[@]}"; do
    port_open "$port" && fail "something still listens on port $port"
  done
  rm -rf "$DIR"
  say "down in $((SECONDS - started)) s"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  rabbit)
    shift
    rabbit "$@"
    ;;
  pg)
    shift
    pg "$@"
    ;;
  *) fail "usage: cluster.sh up|down|rabbit ...|pg ... (see the head of the script)" ;;
esac
