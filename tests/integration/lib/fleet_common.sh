# Shared by tests/integration/fleet_*.sh (sourced): a fleet of three edgedns
# nodes, each in its own network namespace on a veth whose other end is in
# one client namespace, and `edgectl serve` running in that client namespace
# (so that its probes reach every node). Node 1 has two worker lcores on a
# 2-queue veth (net_af_packet qpairs=2), so "one worker lcore of the first
# node" is a real canary stage; nodes 2 and 3 have one. Every node runs with
# --idle-sleep, --no-huge and its own --file-prefix and --state-dir
# (last-known-good).
#
# Control (FLEET_CONTROL): "tls" (the default) as on separate machines: each
# node has a second veth, its management network, with a kernel address in
# its namespace, and listens there with --control-listen and mutual TLS
# (certificates from scripts/pki.sh in $TMP/pki; only edgectl and
# fleet-check are allowed); it has no unix socket, so the control plane
# can reach it only over TCP+mTLS. "unix": a --control socket per node
# (unix sockets work across namespaces), for the chaos test's proxies.
# Node N's DNS veth is 198.18.(70+N).0/24, its management veth
# 198.19.(70+N).0/24 (lib/harness.sh says why). Traffic stays inside the
# namespaces; everything is removed on exit (the traps are set here).

. "$(dirname "${BASH_SOURCE[0]}")/harness.sh"  # log, pass, fail, expect_eq, jget, wait_until, ...
FLEET_LIB="$ROOT/tests/integration/lib"
harness_need "$EDGEDNS" "$EDGECTL"

FID=$$
FLEET_CONTROL=${FLEET_CONTROL:-tls}
PKI=
CLI=efl-cli-$FID
NODES=(1 2 3)
TMP=$(mktemp -d /tmp/efl.XXXXXX)
CTL_SOCK=$TMP/edgectl.sock
CTL_STATE=$TMP/ctl
FLEET_FILE=$TMP/fleet.yaml
SERVE_PID=
SERVE_STARTS=0
declare -A NODE_PID=() NODE_STARTS=()

node_ns() { echo "efl-s$1-$FID"; }
node_if() { echo "efs$1$FID"; }   # server end (edgedns, no kernel address)
cli_if() { echo "efc$1$FID"; }    # client end
node_addr() { echo "198.18.$((70 + $1)).53"; }
cli_addr() { echo "198.18.$((70 + $1)).2"; }
node_sock() { echo "$TMP/n$1/control.sock"; }  # FLEET_CONTROL=unix
node_mgmt_if() { echo "efm$1$FID"; }    # node end of the management veth
cli_mgmt_if() { echo "efn$1$FID"; }
node_mgmt_addr() { echo "198.19.$((70 + $1)).1"; }
cli_mgmt_addr() { echo "198.19.$((70 + $1)).2"; }
# Where the control plane reaches node N.
node_control() {
  if [ "$FLEET_CONTROL" = tls ]; then echo "tls://$(node_mgmt_addr "$1"):8853"; else node_sock "$1"; fi
}
node_state() { echo "$TMP/n$1/state"; }
node_queues() { if [ "$1" = 1 ]; then echo 2; else echo 1; fi; }
# Node 1: main lcore 0, workers 1 and 2 (2 shares CPU 0; fine with --idle-sleep).
node_lcores() {
  case $1 in
    1) echo "--lcores=0@0,1@1,2@0" ;;
    2) echo "-l 1" ;;
    *) echo "-l 0" ;;
  esac
}

in_cli() { bounded "${CLI_TIMEOUT:-30}" ip netns exec "$CLI" "$@"; }  # scripts/lib.sh: TERM, then KILL
fdns() { in_cli "$PY" "$FLEET_LIB/fleet_dns.py" "$@"; }
edgectl() { in_cli "$EDGECTL" "$@"; }
# The serial node N answers ver.fleet.test. TXT with, from 32 source ports:
# one serial when every lcore agrees, else "A,B" (sorted).
node_serials() {
  fdns versions "$(node_addr "$1")" --ports "${2:-32}" |
    jget '",".join(sorted(r["serials"])) + ("" if not r["timeouts"] else " timeouts=%d" % r["timeouts"])'
}
# node_cmd N ARGS...: `edgectl node` for node N, as the test's own checker
# (certificate fleet-check over TLS).
node_cmd() {
  local n=$1
  shift
  if [ "$FLEET_CONTROL" = tls ]; then
    in_cli "$EDGECTL" node --control "$(node_control "$n")" --tls-cert "$PKI/fleet-check.crt" \
      --tls-key "$PKI/fleet-check.key" --tls-ca "$PKI/ca.crt" --server-name "edge-$n" "$@"
  else
    timeout 30 "$EDGECTL" node --control "$(node_sock "$n")" "$@"
  fi
}
# node_status N: the agent's status (JSON).
node_status() { node_cmd "$1" status --json; }
# Versions node N holds (sorted, one line).
node_versions() { node_status "$1" | jget '" ".join(sorted(v["version"] for v in r["versions"]))'; }
# "committed served1 served2..." of node N, from the agent.
node_served() {
  node_status "$1" | jget 'r["committed"] + " " + " ".join(l["version"] for l in sorted(r["lcores"], key=lambda l: l["id"]))'
}

fleet_setup_net() {
  ip netns add "$CLI"
  ip netns exec "$CLI" ip link set lo up
  local n ns vs vc q
  for n in "${NODES[@]}"; do
    ns=$(node_ns "$n") vs=$(node_if "$n") vc=$(cli_if "$n") q=$(node_queues "$n")
    ip netns add "$ns"
    testhost_veth "$ns" "$vs" "$CLI" "$vc" "$q"  # scripts/lib.sh
    ip netns exec "$CLI" ip addr add "$(cli_addr "$n")/24" dev "$vc"
    mkdir -p "$TMP/n$n"
    [ "$FLEET_CONTROL" = tls ] || continue
    ip link add "$(node_mgmt_if "$n")" type veth peer name "$(cli_mgmt_if "$n")"
    ip link set "$(node_mgmt_if "$n")" netns "$ns"
    ip link set "$(cli_mgmt_if "$n")" netns "$CLI"
    ip netns exec "$ns" ip addr add "$(node_mgmt_addr "$n")/24" dev "$(node_mgmt_if "$n")"
    ip netns exec "$ns" ip link set "$(node_mgmt_if "$n")" up
    ip netns exec "$CLI" ip addr add "$(cli_mgmt_addr "$n")/24" dev "$(cli_mgmt_if "$n")"
    ip netns exec "$CLI" ip link set "$(cli_mgmt_if "$n")" up
  done
  [ "$FLEET_CONTROL" = tls ] && fleet_pki
  return 0
}

# fleet_pki: a CA, a certificate per node (edge-N), one for edgectl serve
# (edgectl) and one for the test's checks (fleet-check), in $TMP/pki.
fleet_pki() {
  PKI=$TMP/pki
  "$ROOT/scripts/pki.sh" ca "$PKI"
  local c
  for c in edgectl fleet-check "${NODES[@]/#/edge-}"; do "$ROOT/scripts/pki.sh" cert "$PKI" "$c"; done
}

# The options of node N's control connection.
node_control_args() {
  local n=$1
  if [ "$FLEET_CONTROL" = tls ]; then
    echo "--control-listen $(node_mgmt_addr "$n"):8853 --tls-cert $PKI/edge-$n.crt --tls-key $PKI/edge-$n.key"
    echo "--tls-ca $PKI/ca.crt --control-allow edgectl --control-allow fleet-check"
  else
    echo "--control $(node_sock "$n")"
  fi
}
# node_control_up N: node N's log says its control listener is up (and, for
# unix, the socket is there).
node_control_up() {
  if [ "$FLEET_CONTROL" = tls ]; then
    grep -qs "control over mutual TLS on" "$(node_log "$1")"
  else
    [ -S "$(node_sock "$1")" ]
  fi
}

# spawn_node N [--zone FILE...]: edgedns for node N with its control socket
# and state dir, in the background (NODE_PID[N]; its log node_log N); without
# --zone it serves its last-known-good. Does not wait for it: start_node does.
spawn_node() {
  local n=$1
  shift
  local q vdev
  q=$(node_queues "$n")
  vdev="net_af_packet0,iface=$(node_if "$n")"
  [ "$q" -gt 1 ] && vdev="$vdev,qpairs=$q"
  NODE_STARTS[$n]=$((${NODE_STARTS[$n]:-0} + 1))
  rm -f "$(node_sock "$n")"
  # shellcheck disable=SC2046  # node_control_args is a word list (no spaces in $TMP)
  EDGEDNS_MEM=512 edgedns_spawn "$(node_ns "$n")" "$(node_log "$n")" "efl$FID-n$n" "$(node_lcores "$n")" "$vdev" \
    --listen "$(node_addr "$n")" $(node_control_args "$n") --state-dir "$(node_state "$n")" \
    --idle-sleep "$@"  # scripts/lib.sh
  NODE_PID[$n]=$!
}
node_log() { echo "$TMP/n$1/edgedns.${NODE_STARTS[$1]:-0}.log"; }  # of its latest start

# start_node N [--zone FILE...]: spawn_node, then waits until it serves.
# Returns 1 (after printing the log) when it does not come up.
start_node() {
  local n=$1
  spawn_node "$@"
  local _
  if edgedns_up "$(node_log "$n")" "${NODE_PID[$n]}"; then  # scripts/lib.sh
    for _ in $(seq 100); do
      node_control_up "$n" && return 0
      sleep 0.1
    done
  fi
  fail "node $n: edgedns did not start"
  indent <"$(node_log "$n")"
  return 1
}

# stop_node N [SIGNAL]
stop_node() {
  local n=$1
  # stderr: bash's own "Killed" job notice is noise here
  { stop_process "${NODE_PID[$n]:-}" "${2:-TERM}"; } 2>/dev/null  # scripts/lib.sh
  NODE_PID[$n]=
}

# write_fleet: node N in wave N, so that the default four stages are all
# distinct: one lcore of node 1, node 1, wave 2 (node 2), all (node 3).
write_fleet() {
  local n
  : >"$FLEET_FILE"
  if [ "$FLEET_CONTROL" = tls ]; then
    printf 'tls:\n  cert: %s\n  key: %s\n  ca: %s\n' "$PKI/edgectl.crt" "$PKI/edgectl.key" \
      "$PKI/ca.crt" >>"$FLEET_FILE"
  fi
  echo "nodes:" >>"$FLEET_FILE"
  for n in "${NODES[@]}"; do
    cat >>"$FLEET_FILE" <<EOF
  - name: edge-$n
    control: $(node_control "$n")
    probe: $(node_addr "$n")
    wave: $n
EOF
  done
}

# spawn_serve [ARGS...]: edgectl serve in the client namespace, in the
# background (SERVE_PID; its log serve_log). serve_up waits for its socket
# (30 s at most): 1 when it exited or did not bind. start_serve: both.
spawn_serve() {
  SERVE_STARTS=$((SERVE_STARTS + 1))
  rm -f "$CTL_SOCK"
  ip netns exec "$CLI" "$EDGECTL" serve --fleet "$FLEET_FILE" --state-dir "$CTL_STATE" \
    --socket "$CTL_SOCK" "$@" >"$(serve_log)" 2>&1 &
  SERVE_PID=$!
}
serve_log() { echo "$TMP/serve.$SERVE_STARTS.log"; }
serve_up() {
  for _ in $(seq 150); do
    [ -S "$CTL_SOCK" ] && return 0
    kill -0 "$SERVE_PID" 2>/dev/null || return 1
    sleep 0.2
  done
  return 1
}
start_serve() {
  spawn_serve "$@"
  serve_up && return 0
  fail "edgectl serve did not start"
  indent <"$(serve_log)"
  return 1
}

stop_serve() {
  { stop_process "$SERVE_PID" "${1:-TERM}"; } 2>/dev/null
  SERVE_PID=
}

# Background jobs of a case (pollers, loads, pushes), stopped at exit.
BG_PIDS=()
fleet_cleanup() {
  local p n
  for p in "${BG_PIDS[@]}"; do { stop_process "$p"; } 2>/dev/null; done
  stop_serve
  for n in "${NODES[@]}"; do stop_node "$n"; done
  ip netns del "$CLI" 2>/dev/null || true
  for n in "${NODES[@]}"; do ip netns del "$(node_ns "$n")" 2>/dev/null || true; done
  rm -rf /var/run/dpdk/efl"$FID"-*
  if [ "${FLEET_KEEP_TMP:-0}" = 1 ]; then echo "kept $TMP"; else rm -rf "$TMP"; fi
}
trap fleet_cleanup EXIT
trap 'exit 130' INT TERM

# zone SERIAL [fleet_zone.py options] > FILE
zone() { "$PY" "$FLEET_LIB/fleet_zone.py" "$@"; }

# fleet_up: network, the three nodes on version 1 of fleet.test., fleet file,
# edgectl serve adopting version 1 (so the gates know the committed content).
fleet_up() {
  fleet_setup_net
  zone 1 >"$TMP/v1.zone"
  local n
  for n in "${NODES[@]}"; do start_node "$n" --zone "$TMP/v1.zone" || return 1; done
  if [ "$FLEET_CONTROL" = tls ]; then
    # The control plane's only way in is the TLS port: no node has a socket file.
    local files
    files=$(find "$TMP" -type s | wc -l)
    expect_eq "nodes reachable only over TCP+mTLS (control socket files)" "$files" "0"
  fi
  write_fleet
  start_serve --adopt "$TMP/v1.zone" || return 1
}

# A policy for tests: gates every 0.5 s, short bakes (push --bake overrides
# them), probes with a short timeout. BAKES: the four stages' bake_s (default
# "2 2 2 2"; a long one holds the rollout in the stage a case acts in, however
# slowly a loaded machine gets there). Extra YAML lines from stdin.
write_policy() {  # FILE [STAGE_MIN_QUERIES [HEALTH_MIN_QUERIES [BAKES]]]
  local f=$1 mq=${2:-0} hmq=${3:-50} b
  read -r -a b <<<"${4:-2 2 2 2}"
  cat >"$f" <<EOF
stages:
  - {name: canary-lcore, scope: lcore, bake_s: ${b[0]}, min_queries: $mq}
  - {name: canary-node,  scope: node,  bake_s: ${b[1]}, min_queries: $mq}
  - {name: next-wave,    scope: wave,  bake_s: ${b[2]}, waves: 1}
  - {name: all,          scope: all,   bake_s: ${b[3]}}
health:
  interval_s: 0.5
  min_queries: $hmq
  probe_timeout_s: 1
EOF
  cat >>"$f"
}

# Per-case result lines that the summary counts.
CASE_FAILS_AT_START=0
case_begin() { CASE_NAME=$1; CASE_FAILS_AT_START=$FAILS; log "---- case: $1"; }
CASE_RESULTS=()
case_end() {
  if [ "$FAILS" = "$CASE_FAILS_AT_START" ]; then
    CASE_RESULTS+=("PASS $CASE_NAME"); log "PASS: $CASE_NAME"
  else
    CASE_RESULTS+=("FAIL $CASE_NAME"); log "FAIL: $CASE_NAME ($((FAILS - CASE_FAILS_AT_START)) check(s))"
  fi
}
fleet_summary() {  # SCRIPT-NAME
  local r
  for r in "${CASE_RESULTS[@]}"; do echo "  $r"; done
  if [ "$FAILS" = 0 ]; then log "$1: all ${#CASE_RESULTS[@]} case(s) passed"; return 0; fi
  log "--- edgectl serve log (last 40 lines)"
  tail -n 40 "$TMP"/serve.*.log | indent
  log "$1: $FAILS check(s) failed"
  return 1
}
