#!/usr/bin/env bash
# A 3-node RabbitMQ cluster on this machine, for the cluster fault test (tests/…/Faults/BrokerCluster.cs) and by hand:
#   rabbit-cluster.sh up                 start (or reuse) nodes ifc1..ifc3@localhost and join them; prints their endpoints
#   rabbit-cluster.sh stop_app N         rabbitmqctl stop_app on node N (1..3): the node leaves, its ports close
#   rabbit-cluster.sh start_app N        start_app and await_startup on node N
#   rabbit-cluster.sh ctl N ARGS…        any rabbitmqctl command on node N
#   rabbit-cluster.sh down               stop all three and delete their data
#   rabbit-cluster.sh tls-up DIR         a separate single node ift@localhost configured by DIR/rabbitmq.conf (the TLS
#                                        tests write it and their certificates there); Erlang distribution on 25690
#   rabbit-cluster.sh tls-down           stop it and delete its data
# Node N listens on AMQP 5680+N, Erlang distribution 25680+N, management 15680+N (below the ephemeral port range), keeps
# its data and logs under $INGESTFLEET_CLUSTER_DIR (default /tmp/ingestfleet-cluster)/ifcN and runs as the rabbitmq user
# when started by root (Debian's package: the nodes share its Erlang cookie, which clustering needs).
set -euo pipefail
base="${INGESTFLEET_CLUSTER_DIR:-/tmp/ingestfleet-cluster}"
nodes=(1 2 3)

as_rabbit() {
  if [ "$(id -u)" = 0 ]; then runuser -u rabbitmq -- env "$@"; else env "$@"; fi
}
node_env() {
  local n=$1
  echo RABBITMQ_NODENAME="ifc$n@localhost" RABBITMQ_NODE_PORT=$((5680 + n)) RABBITMQ_DIST_PORT=$((25680 + n)) \
    RABBITMQ_MNESIA_BASE="$base/ifc$n/mnesia" RABBITMQ_LOG_BASE="$base/ifc$n/log" RABBITMQ_PID_FILE="$base/ifc$n/pid" \
    RABBITMQ_CONFIG_FILE="$base/ifc$n/rabbitmq" RABBITMQ_ENABLED_PLUGINS_FILE="$base/enabled_plugins"
}
ctl() {
  local n=$1; shift
  # shellcheck disable=SC2046
  as_rabbit $(node_env "$n") rabbitmqctl -n "ifc$n@localhost" "$@"
}
running() { ctl "$1" -q ping >/dev/null 2>&1; }

up() {
  if running 1 && running 2 && running 3 && [ "$(ctl 1 -q cluster_status --formatter json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["running_nodes"]))')" = 3 ]; then
    echo "cluster: reusing ifc1..ifc3"
  else
    down >/dev/null 2>&1 || true
    mkdir -p "$base"
    echo "[rabbitmq_management]." > "$base/enabled_plugins"
    for n in "${nodes[@]}"; do
      mkdir -p "$base/ifc$n/mnesia" "$base/ifc$n/log"
      # management on its own port; loopback guest as on the main broker
      printf 'management.tcp.port = %s\nloopback_users.guest = true\n' $((15680 + n)) > "$base/ifc$n/rabbitmq.conf"
    done
    [ "$(id -u)" = 0 ] && chown -R rabbitmq:rabbitmq "$base"
    for n in "${nodes[@]}"; do
      # shellcheck disable=SC2046
      as_rabbit $(node_env "$n") RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="+sbwt none +sbwtdcpu none +sbwtdio none" rabbitmq-server -detached
    done
    for n in "${nodes[@]}"; do timeout 120 bash -c "until $(declare -f as_rabbit node_env ctl running); base='$base'; running $n; do sleep 1; done"; ctl "$n" -q await_startup; done
    for n in 2 3; do
      ctl "$n" -q stop_app
      ctl "$n" -q join_cluster ifc1@localhost
      ctl "$n" -q start_app
      ctl "$n" -q await_startup
    done
    echo "cluster: ifc1..ifc3 up and joined"
  fi
  for n in "${nodes[@]}"; do echo "node $n ifc$n@localhost amqp 127.0.0.1:$((5680 + n)) management http://127.0.0.1:$((15680 + n))"; done
}

down() {
  for n in "${nodes[@]}"; do ctl "$n" -q stop >/dev/null 2>&1 || true; done
  rm -rf "$base"
}

tls_env() {
  echo RABBITMQ_NODENAME=ift@localhost RABBITMQ_DIST_PORT=25690 RABBITMQ_MNESIA_BASE="$base/ift/mnesia" \
    RABBITMQ_LOG_BASE="$base/ift/log" RABBITMQ_PID_FILE="$base/ift/pid" RABBITMQ_CONFIG_FILE="$1/rabbitmq" \
    RABBITMQ_ENABLED_PLUGINS_FILE="$base/ift/enabled_plugins"
}
tls_up() {
  local dir; dir="$(cd "$1" && pwd)"
  tls_down >/dev/null 2>&1 || true
  mkdir -p "$base/ift/mnesia" "$base/ift/log"
  echo "[rabbitmq_management]." > "$base/ift/enabled_plugins"
  if [ "$(id -u)" = 0 ]; then chown -R rabbitmq:rabbitmq "$base" "$dir"; fi
  # shellcheck disable=SC2046
  as_rabbit $(tls_env "$dir") RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="+sbwt none +sbwtdcpu none +sbwtdio none" rabbitmq-server -detached
  # shellcheck disable=SC2046
  timeout 120 bash -c "until $(declare -f as_rabbit); as_rabbit $(tls_env "$dir") rabbitmqctl -n ift@localhost -q ping >/dev/null 2>&1; do sleep 1; done"
  # shellcheck disable=SC2046
  as_rabbit $(tls_env "$dir") rabbitmqctl -n ift@localhost -q await_startup
  echo "tls node: ift@localhost up"
}
tls_down() {
  as_rabbit RABBITMQ_DIST_PORT=25690 rabbitmqctl -n ift@localhost -q stop >/dev/null 2>&1 || true
  rm -rf "$base/ift"
}

cmd="${1:-}"; shift || true
case "$cmd" in
  up) up ;;
  down) down ;;
  stop_app) ctl "$1" -q stop_app ;;
  start_app) ctl "$1" -q start_app; ctl "$1" -q await_startup ;;
  ctl) n=$1; shift; ctl "$n" "$@" ;;
  tls-up) tls_up "$1" ;;
  tls-down) tls_down ;;
  *) echo "usage: $0 up|down|stop_app N|start_app N|ctl N ARGS…" >&2; exit 2 ;;
esac
