#!/usr/bin/env bash
# A 3-node Signet cluster on loopback for development.
#
#   scripts/run-local-cluster.sh          build, start n1..n3, make n2 and n3 join n1
#   scripts/run-local-cluster.sh stop     stop the nodes this script started
#
# Data goes to ./signet-cluster/n1..n3 (kept between runs; delete the folder for a fresh
# cluster); logs and pid files sit beside them as nN.log and nN.pid.
# Ports: admin 19001-19003, cluster 10445-10447, clear of the single-node defaults
# (19000, 10444) so a `signetd` with default settings can run alongside.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

DIR=signet-cluster
NODES=(1 2 3)
SIGNETD=target/debug/signetd
SIGNET=target/debug/signet

admin_port() { echo $((19000 + $1)); }
cluster_port() { echo $((10444 + $1)); }

# A pid from a file counts only if that process is still our signetd (pids get reused).
running_pid() {
  local f=$DIR/n$1.pid pid
  [[ -f $f ]] || return 1
  pid=$(<"$f")
  [[ $(cat "/proc/$pid/comm" 2>/dev/null) == signetd ]] && echo "$pid"
}

stop() {
  local n pid
  for n in "${NODES[@]}"; do
    if pid=$(running_pid "$n"); then
      echo "stopping n$n (pid $pid)"
      kill "$pid"
      # Give it time to flush sled and leave cleanly before forcing it.
      for _ in {1..50}; do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
      kill -0 "$pid" 2>/dev/null && { echo "n$n did not exit, killing"; kill -9 "$pid"; }
    fi
    rm -f "$DIR/n$n.pid"
  done
}

# Bash's /dev/tcp avoids a dependency on nc/curl just to see that a port answers.
wait_port() {
  local n=$1 port=$2
  for _ in {1..150}; do
    # Ready means the API answers with the node's own credentials (written after the port opens).
    "$SIGNET" --data-dir "$DIR/n$n" cluster status >/dev/null 2>&1 && return 0
    running_pid "$n" >/dev/null || break
    sleep 0.2
  done
  echo "n$n did not come up on port $port; last lines of $DIR/n$n.log:" >&2
  tail -n 20 "$DIR/n$n.log" >&2
  return 1
}

case ${1:-start} in
  stop) stop; exit 0 ;;
  start) ;;
  *) echo "usage: $0 [start|stop]" >&2; exit 2 ;;
esac

for n in "${NODES[@]}"; do
  if running_pid "$n" >/dev/null; then
    echo "n$n is already running; run '$0 stop' first" >&2
    exit 1
  fi
done

cargo build -p signet-appliance

mkdir -p "$DIR"
# Keep the whole folder out of git without touching the repository's .gitignore.
echo '*' >"$DIR/.gitignore"

# If anything below fails, do not leave half a cluster running.
trap 'echo "start failed, stopping what was started" >&2; stop' ERR

for n in "${NODES[@]}"; do
  mkdir -p "$DIR/n$n"
  # setsid: the nodes outlive this script and a Ctrl-C in its terminal.
  setsid "$SIGNETD" --data-dir "$DIR/n$n" \
    --listen-admin "127.0.0.1:$(admin_port "$n")" \
    --listen-cluster "127.0.0.1:$(cluster_port "$n")" \
    >"$DIR/n$n.log" 2>&1 </dev/null &
  echo $! >"$DIR/n$n.pid"
  echo "started n$n (pid $!): admin 127.0.0.1:$(admin_port "$n"), cluster 127.0.0.1:$(cluster_port "$n")"
done
for n in "${NODES[@]}"; do wait_port "$n" "$(admin_port "$n")"; done

# A join token works once, so each joiner gets its own. The CLI prints the token; the last
# line is taken so a notice before it does no harm.
for n in "${NODES[@]:1}"; do
  token=$("$SIGNET" --data-dir "$DIR/n1" cluster token | tail -n 1)
  [[ -n $token ]] || { echo "n1 printed no join token" >&2; false; }
  echo "n$n joining n1"
  "$SIGNET" --data-dir "$DIR/n$n" cluster join "$token"
done
trap - ERR

cat <<USAGE

Cluster is up: 3 nodes, data in $DIR/n1..n3, logs in $DIR/nN.log.
  admin UI/API:  https://127.0.0.1:19001  https://127.0.0.1:19002  https://127.0.0.1:19003
  CLI:           $SIGNET --data-dir $DIR/n1 <command>     (any node; writes go to the leader)
  logs:          tail -f $DIR/n*.log
  stop:          $0 stop
  start afresh:  $0 stop && rm -rf $DIR && $0
USAGE
