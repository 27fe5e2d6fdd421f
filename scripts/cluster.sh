#!/usr/bin/env bash
# A local 3-node RabbitMQ cluster on this one machine, for trying AMQP_URI lists and
# QUEUE_TYPE: quorum against real node loss (test/faults/cluster-node-loss.test.ts).
#
#   scripts/cluster.sh up            start enoki-1..3@localhost on 127.0.0.1:5681-5683, print the URI list
#   scripts/cluster.sh stop-node N   stop node N's RabbitMQ app (the Erlang node stays, so start-node is quick)
#   scripts/cluster.sh start-node N  start node N's app again
#   scripts/cluster.sh status        print the URI list if all three nodes run, else exit 1
#   scripts/cluster.sh down          stop the three nodes and delete their files
#
# The main broker (rabbit@localhost on 5672, used by every other test) is never touched:
# every rabbitmqctl here names its node with -n, and each node has its own name,
# distribution port, data, log and config (the system rabbitmq-env.conf and rabbitmq.conf
# pin the main broker's name and port, so they are replaced, not read). The nodes share
# the main broker's Erlang cookie, because rabbitmqctl runs as the rabbitmq user, whose
# HOME holds it. Needs root (or the rabbitmq user) and Debian's rabbitmq-server.
set -euo pipefail

BASE=${ENOKI_CLUSTER_DIR:-/tmp/enoki-cluster}
NODES=(1 2 3)
RMQ_BIN=/usr/lib/rabbitmq/bin
RMQ_HOME=$(getent passwd rabbitmq | cut -d: -f6)

node_name() { echo "enoki-$1@localhost"; }
amqp_port() { echo $((5680 + $1)); }
# The main broker's distribution port is 25672 (5672 + 20000); ours follow the same rule.
dist_port() { echo $((25680 + $1)); }

uri_list() {
  local out=() n
  for n in "${NODES[@]}"; do out+=("amqp://guest:guest@127.0.0.1:$(amqp_port "$n")/"); done
  (IFS=,; echo "${out[*]}")
}

as_rabbitmq() {
  if [ "$(id -u)" = "$(id -u rabbitmq)" ]; then env HOME="$RMQ_HOME" "$@"; else runuser -u rabbitmq -- env HOME="$RMQ_HOME" "$@"; fi
}

# rabbitmqctl for node N only (never the main broker).
ctl() {
  local n=$1; shift
  as_rabbitmq "$RMQ_BIN/rabbitmqctl" -n "$(node_name "$n")" "$@"
}

# The environment a node's scripts get: everything of its own, nothing from /etc/rabbitmq.
node_env() {
  local n=$1 dir="$BASE/node$1"
  echo RABBITMQ_CONF_ENV_FILE="$dir/rabbitmq-env.conf" \
    RABBITMQ_NODENAME="$(node_name "$n")" \
    RABBITMQ_DIST_PORT="$(dist_port "$n")" \
    RABBITMQ_CONFIG_FILE="$dir/rabbitmq.conf" \
    RABBITMQ_ADVANCED_CONFIG_FILE="$dir/advanced.config" \
    RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins" \
    RABBITMQ_MNESIA_BASE="$dir/mnesia" \
    RABBITMQ_LOG_BASE="$dir/log" \
    RABBITMQ_PLUGINS_EXPAND_DIR="$dir/plugins-expand" \
    RABBITMQ_PID_FILE="$dir/pid" \
    ERL_EPMD_ADDRESS=127.0.0.1
}

prepare_node() {
  local n=$1 dir="$BASE/node$1"
  mkdir -p "$dir/mnesia" "$dir/log" "$dir/plugins-expand"
  # The system rabbitmq-env.conf names the main broker; this one only keeps the node local.
  printf '%s\n' 'ERL_EPMD_ADDRESS=127.0.0.1' > "$dir/rabbitmq-env.conf"
  # Plain AMQP on loopback only; no management/prometheus listeners (their ports would
  # clash with the main broker's and with each other's).
  cat > "$dir/rabbitmq.conf" <<EOF
listeners.tcp.1 = 127.0.0.1:$(amqp_port "$n")
loopback_users = none
disk_free_limit.absolute = 50MB
EOF
  echo '[].' > "$dir/enabled_plugins"
  chown -R rabbitmq:rabbitmq "$dir"
}

running() { ctl "$1" await_startup --timeout 2 >/dev/null 2>&1; }
node_up() { ctl "$1" status >/dev/null 2>&1; }

start_node() {
  local n=$1
  if node_up "$n"; then
    running "$n" || ctl "$n" start_app >/dev/null
    return
  fi
  prepare_node "$n"
  echo "starting $(node_name "$n") on 127.0.0.1:$(amqp_port "$n")" >&2
  # Fewer schedulers and no busy-waiting: three extra nodes share a small machine.
  # shellcheck disable=SC2046
  as_rabbitmq env $(node_env "$n") \
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1} +S 2:2 +sbwt none +sbwtdcpu none +sbwtdio none" \
    "$RMQ_BIN/rabbitmq-server" -detached >/dev/null 2>&1
  # -detached returns before the node registers with epmd; await_startup needs it there.
  local i
  for i in $(seq 1 120); do node_up "$n" && break; sleep 1; done
  ctl "$n" await_startup --timeout 120 >/dev/null
}

in_cluster() {
  # cluster_status of node 1 lists node N among its running nodes.
  ctl 1 cluster_status --formatter json 2>/dev/null | grep -q "\"$(node_name "$1")\""
}

up() {
  local n any=no
  for n in "${NODES[@]}"; do node_up "$n" && any=yes; done
  # No node running: start from nothing. Left-over data of a cluster whose nodes were
  # killed would make node 1 wait (minutes) for its old peers' tables at boot.
  [ "$any" = no ] && rm -rf "$BASE"
  # One node at a time: an Erlang node's start is CPU-heavy.
  start_node 1
  for n in 2 3; do
    start_node "$n"
    if ! in_cluster "$n"; then
      echo "joining $(node_name "$n") to $(node_name 1)" >&2
      ctl "$n" stop_app >/dev/null
      ctl "$n" reset >/dev/null
      ctl "$n" join_cluster "$(node_name 1)" >/dev/null
      ctl "$n" start_app >/dev/null
      ctl "$n" await_startup --timeout 120 >/dev/null
    fi
  done
  uri_list
}

down() {
  local n
  for n in 3 2 1; do
    if node_up "$n"; then
      echo "stopping $(node_name "$n")" >&2
      ctl "$n" stop >/dev/null 2>&1 || true
    fi
  done
  rm -rf "$BASE"
}

status() {
  local n
  for n in "${NODES[@]}"; do running "$n" || { echo "$(node_name "$n") is not running" >&2; exit 1; }; done
  uri_list
}

check_n() {
  case "${1:-}" in 1|2|3) ;; *) echo "usage: $0 $2 N (N = 1, 2 or 3)" >&2; exit 2 ;; esac
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  stop-node) check_n "${2:-}" stop-node; ctl "$2" stop_app >/dev/null; echo "stopped the app of $(node_name "$2")" >&2 ;;
  start-node) check_n "${2:-}" start-node; ctl "$2" start_app >/dev/null; ctl "$2" await_startup --timeout 120 >/dev/null; echo "started the app of $(node_name "$2")" >&2 ;;
  *) echo "usage: $0 up | down | status | stop-node N | start-node N" >&2; exit 2 ;;
esac
