#!/usr/bin/env bash
# Fault injection on a real fleet of three edgedns nodes and `edgectl serve`
# (tests/integration/lib/fleet_common.sh): many seeded random schedules,
# each a rollout during which faults and operator commands land at random
# moments:
#   - pushes of good zones and of harmful ones: 9% of the names a background
#     load asks for removed (below the blast-radius limit; the NXDOMAIN rate
#     gate may trip), or www changed where a probe expects the old address;
#   - kill -9 of a node, restarted after a while with the same --state-dir
#     and no --zone (as a supervisor would); kill -9 of edgectl serve,
#     restarted on the same state dir;
#   - control traffic to a node delayed or dropped for a while, in the
#     node's namespace: serve reaches each node over TCP + mutual TLS through
#     a proxy running in that namespace (lib/fleet_chaos.py proxy), which
#     delays what it relays or installs an nftables drop rule there;
#   - a node stopped (SIGSTOP) for a short time, then continued;
#   - concurrent operator pause, resume, abort, rollback and push.
# After each schedule, once every process is back up and the control plane
# is idle (60 s at most; a paused rollout is resumed), the invariants:
#   bad-version-served/-committed: a version that ended rolled back or bad
#     is served by no lcore and committed on no node;
#   committed-everywhere: the control plane's committed version is
#     committed on every node and served by every lcore;
#   version-known: every version a node holds, serves or has committed is in
#     the control plane's state-dir/versions/ and journal;
#   serve-died: edgectl serve never exits unless the test killed it (nor
#     logs a crash); node-died / node-start / serve-start: every process
#     the test did not kill stays up, and every restart comes up;
#   abort-honoured: a rollout whose abort (rollout abort, or rollback
#     during it) the control plane accepted does not end committed;
#   not-idle: the control plane becomes idle.
# A violation prints the seed, the schedule, its actions with their times and
# the evidence, and is counted (CHAOS_FINDINGS=FILE also appends it to FILE
# as markdown); the fleet is then reset (fresh state) for the next schedule,
# so one fault is not blamed on the schedules after it. The script goes on
# through every schedule and exits 1 when any invariant was violated.
# Usage: tests/integration/fleet_chaos.sh. Environment: CHAOS_SEED (default
# random, printed first), CHAOS_SCHEDULES (50), CHAOS_BUDGET_S (330: no new
# schedule starts after that many seconds), CHAOS_FINDINGS. Needs root.
set -uo pipefail
FLEET_CONTROL=tls
. "$(dirname "$0")/lib/fleet_common.sh"
# Each agent listens on its namespace's loopback (the proxy in front of it
# takes the management address) and on a unix socket, which only the
# invariant checker uses: the control plane reaches nodes over TCP alone.
AGENT_PORT=8854
node_control_args() {
  local n=$1
  echo "--control $(node_sock "$n") --control-listen 127.0.0.1:$AGENT_PORT"
  echo "--tls-cert $PKI/edge-$n.crt --tls-key $PKI/edge-$n.key --tls-ca $PKI/ca.crt --control-allow edgectl"
}

SEED=${CHAOS_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
NSCHED=${CHAOS_SCHEDULES:-50}
BUDGET=${CHAOS_BUDGET_S:-330}
IDLE_S=60    # the control plane must be idle this soon after every process is back
GRACE_S=10   # and its nodes consistent this soon after that
FINDINGS=${CHAOS_FINDINGS:-}
CHAOS="$FLEET_LIB/fleet_chaos.py"
log "fleet_chaos: seed $SEED, $NSCHED schedule(s) (replay: CHAOS_SEED=$SEED CHAOS_SCHEDULES=$NSCHED)"

proxy_ctl() { echo "$TMP/proxy$1.ctl"; }
AGENTS=()  # the checker's NAME=AGENT_SOCKET
for n in "${NODES[@]}"; do AGENTS+=("edge-$n=$(node_sock "$n")"); done
# fault delay|blackhole N ARGS... / fault clear: to node N's proxy (clear: every proxy).
fault() {
  local kind=$1 n rc=0
  shift
  if [ "$kind" = clear ]; then
    for n in "${NODES[@]}"; do "$PY" "$CHAOS" fault "$(proxy_ctl "$n")" clear || rc=1; done
    return $rc
  fi
  n=$1
  "$PY" "$CHAOS" fault "$(proxy_ctl "$n")" "$kind" "$@"
}
# proc_alive PID: running (a zombie, which kill -0 accepts, is not).
proc_alive() {
  local st
  [ -n "$1" ] && st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) && [ "$st" != Z ]
}
now_us() { echo "${EPOCHREALTIME/./}"; }
rel() {  # seconds since the schedule began, "S.mmm"
  local d=$((($(now_us) - T0) / 1000))
  printf '%d.%03d' $((d / 1000)) $((d % 1000))
}
# The fleet file as every fleet test writes it (tls://, the management
# address): there the proxy of the node's namespace answers.

# node_wait_up N: node N serves and its socket is there (60 s at most).
node_wait_up() {
  local n=$1
  for _ in $(seq 300); do
    grep -qs "serving on" "$(node_log "$n")" && [ -S "$(node_sock "$n")" ] &&
      grep -qs "control over mutual TLS on" "$(node_log "$n")" && return 0
    proc_alive "${NODE_PID[$n]}" || return 1
    sleep 0.2
  done
  return 1
}

SERIAL=1
BASE_ZONE=$TMP/base.zone
# fleet_fresh: every node and serve (re)started on empty state: the nodes
# on a new base version, serve adopting it. 1 when something does not come up.
fleet_fresh() {
  local n
  stop_serve
  for n in "${NODES[@]}"; do
    [ -n "${NODE_PID[$n]:-}" ] && kill -CONT "${NODE_PID[$n]}" 2>/dev/null
    stop_node "$n"
    rm -rf "$(node_state "$n")"
  done
  rm -rf "$CTL_STATE"
  SERIAL=$((SERIAL + 1))
  zone "$SERIAL" >"$BASE_ZONE"
  for n in "${NODES[@]}"; do spawn_node "$n" --zone "$BASE_ZONE"; done
  for n in "${NODES[@]}"; do
    node_wait_up "$n" || { log "node $n did not come up"; indent <"$(node_log "$n")"; return 1; }
  done
  spawn_serve --adopt "$BASE_ZONE"
  serve_up || { log "edgectl serve did not come up"; indent <"$(serve_log)"; return 1; }
  "$PY" "$CHAOS" settle --edgectl "$EDGECTL" --socket "$CTL_SOCK" --timeout "$IDLE_S" >/dev/null
}

# A node left stopped (the script interrupted mid-schedule) would ignore
# the TERM of the cleanup for 10 s.
chaos_cleanup() {
  local n
  for n in "${NODES[@]}"; do [ -n "${NODE_PID[$n]:-}" ] && kill -CONT "${NODE_PID[$n]}" 2>/dev/null; done
  fleet_cleanup
}
trap chaos_cleanup EXIT

# ---------------------------------------------------------------- set-up
fleet_setup_net
for n in "${NODES[@]}"; do
  ip netns exec "$(node_ns "$n")" ip link set lo up
  ip netns exec "$(node_ns "$n")" "$PY" "$CHAOS" proxy --ctl "$(proxy_ctl "$n")" \
    "$n=$(node_mgmt_addr "$n"):8853=127.0.0.1:$AGENT_PORT" 2>"$TMP/proxy$n.log" &
  BG_PIDS+=("$!")
  wait_until 30 "the control proxy of node $n" test -S "$(proxy_ctl "$n")" || exit 1
done
write_fleet
fleet_fresh || { fail "the fleet did not come up"; exit 1; }
echo "www.fleet.test. A NOERROR 192.0.2.80" >"$TMP/probes"
zone --names >"$TMP/names"
# Traffic for the rate gates, to all three nodes for the whole run.
CLI_TIMEOUT=$((BUDGET + 600)) fdns load --names "$TMP/names" --qps 200 --seconds $((BUDGET + 500)) \
  --stop "$TMP/load.stop" "$(node_addr 1)" "$(node_addr 2)" "$(node_addr 3)" >"$TMP/load.json" 2>&1 &
LOAD_PID=$!
BG_PIDS+=("$LOAD_PID")

# Before any schedule: the invariant check can fail. A version loaded on a
# node behind the control plane's back must be reported (the node neither
# serves the committed version nor holds only known ones). serve's traffic to
# that node is blackholed meanwhile: its reconciler would otherwise repair the
# node before the check looks.
selftest() {
  zone 999999 --www 192.0.2.99 >"$TMP/rogue.zone"
  fault blackhole 3 120 >/dev/null || { fail "self-test: the control proxy refused"; return 1; }
  timeout 60 "$EDGECTL" node --control "$(node_sock 3)" load "$TMP/rogue.zone" >"$TMP/rogue.out" 2>&1 ||
    { fail "self-test: edgectl node load failed"; indent <"$TMP/rogue.out"; fault clear >/dev/null; return 1; }
  "$PY" "$CHAOS" check --edgectl "$EDGECTL" --socket "$CTL_SOCK" --state "$CTL_STATE" --grace 0 \
    "${AGENTS[@]}" >"$TMP/selftest.json"
  fault clear >/dev/null
  local got
  got=$(jget '" ".join(sorted({v["check"] for v in r["violations"]}))' <"$TMP/selftest.json")
  expect_eq "self-test: a version loaded behind the control plane's back is caught" "$got" \
    "committed-everywhere version-known"
}
selftest
fleet_fresh || { fail "the fleet did not come up again after the self-test"; exit 1; }

# ---------------------------------------------------------------- actions
declare -A KINDS=() NODE_DEAD=() NODE_STOPPED=()
SERVE_KILLED=0
OPS=()  # "PID NAME OUT" of operator commands running in the background
VIOL=()
VIOLATIONS=0
VIOL_SCHEDULES=0

violation() {  # CHECK DETAIL
  VIOL+=("[$1] $2")
  log "  violation [$1]: $2"
}
# act TEXT: a line of the schedule's log, at the time its action began.
act() { echo "+${ACT_AT:-$(rel)} $*" >>"$ACTLOG"; }

# op NAME EDGECTL-ARGS...: an operator command in the background.
op() {
  local name=$1 out
  shift
  out=$SDIR/op.${#OPS[@]}.$name.out
  {
    edgectl "$@"
    local rc=$?
    echo "+$(rel) exited $rc" >"$out.rc"
  } >"$out" 2>&1 &
  OPS+=("$! $name $out")
}

push_zone() {  # KIND
  SERIAL=$((SERIAL + 1))
  local f=$SDIR/push-$SERIAL-$1.zone
  case $1 in
    good) zone "$SERIAL" >"$f" ;;
    nx) zone "$SERIAL" --drop-frac 0.09 >"$f" ;;
    probe) zone "$SERIAL" --www 192.0.2.66 >"$f" ;;
  esac
  op "push-$1" push --socket "$CTL_SOCK" --policy "$SDIR/policy.yaml" --probes "$TMP/probes" --json "$f"
  act "push $1 (serial $SERIAL)"
}

# serve_watch: a serve the test did not kill must be running; one that
# died is a violation, and is restarted as a supervisor would.
serve_watch() {
  [ "$SERVE_KILLED" = 1 ] && return 0
  proc_alive "$SERVE_PID" && return 0
  local rc=0
  wait "$SERVE_PID" 2>/dev/null || rc=$?
  violation serve-died "edgectl serve (pid $SERVE_PID) exited with $rc at +$(rel) without being killed; its log ends: $(tail -n 5 "$(serve_log)" | tr '\n' '|')"
  ACT_AT=
  act "serve found dead (exit $rc): restarted"
  spawn_serve
}

do_action() {
  local kind=$1 n=${2:-} p
  ACT_AT=$(rel)
  [ "$kind" = fault_over ] || KINDS[$kind]=$((${KINDS[$kind]:-0} + 1))
  case $kind in
    push) push_zone "$n" ;;
    kill_node)
      p=${NODE_PID[$n]:-}
      if [ "${NODE_DEAD[$n]:-0}" = 1 ] || ! proc_alive "$p"; then act "kill -9 edge-$n: skipped (not running)"; return; fi
      { kill -KILL "$p"; wait "$p"; } 2>/dev/null
      NODE_DEAD[$n]=1
      NODE_STOPPED[$n]=
      act "kill -9 edge-$n (pid $p)" ;;
    restart_node)
      if [ "${NODE_DEAD[$n]:-0}" != 1 ]; then act "restart edge-$n: skipped (not killed)"; return; fi
      spawn_node "$n"
      NODE_DEAD[$n]=0
      act "restart edge-$n, no --zone (pid ${NODE_PID[$n]})" ;;
    stop_node)
      p=${NODE_PID[$n]:-}
      if [ "${NODE_DEAD[$n]:-0}" = 1 ] || ! proc_alive "$p"; then act "SIGSTOP edge-$n: skipped (not running)"; return; fi
      kill -STOP "$p"
      NODE_STOPPED[$n]=$p
      act "SIGSTOP edge-$n (pid $p)" ;;
    cont_node)
      p=${NODE_STOPPED[$n]:-}
      if [ -z "$p" ]; then act "SIGCONT edge-$n: skipped (not stopped)"; return; fi
      kill -CONT "$p" 2>/dev/null
      NODE_STOPPED[$n]=
      act "SIGCONT edge-$n (pid $p)" ;;
    kill_serve)
      if ! proc_alive "$SERVE_PID"; then act "kill -9 serve: skipped (not running)"; return; fi
      p=$SERVE_PID
      { kill -KILL "$p"; wait "$p"; } 2>/dev/null
      SERVE_KILLED=1
      act "kill -9 edgectl serve (pid $p)" ;;
    restart_serve)
      if [ "$SERVE_KILLED" != 1 ]; then act "restart serve: skipped (not killed)"; return; fi
      spawn_serve
      SERVE_KILLED=0
      act "restart edgectl serve (pid $SERVE_PID)" ;;
    delay) act "delay control traffic of edge-$n by $3 s for $4 s: $(fault delay "$n" "$3" "$4" 2>&1)" ;;
    blackhole) act "blackhole control traffic of edge-$n for $3 s: $(fault blackhole "$n" "$3" 2>&1)" ;;
    fault_over) act "$3 of edge-$n over" ;;
    pause | resume | abort)
      op "$kind" rollout "$kind" --socket "$CTL_SOCK" --json
      act "operator: rollout $kind" ;;
    rollback)
      op rollback rollback --socket "$CTL_SOCK" --json
      act "operator: rollback" ;;
    *) act "unknown action $kind" ;;
  esac
}

# settle: faults over, every process back, then the control plane idle and
# the invariants. 1 when the fleet needs a fresh start.
settle() {
  local o pid name out rc n res t
  ACT_AT=
  ABORTED=()
  for o in "${OPS[@]}"; do
    read -r pid name out <<<"$o"
    rc=0
    wait "$pid" 2>/dev/null
    # Logged at the time it ended; the log is sorted by time below.
    read -r t res <"$out.rc" 2>/dev/null || { t="+$(rel)" res="(no exit status)"; }
    echo "$t $name $res: $(tail -n 1 "$out" | cut -c1-160)" >>"$ACTLOG"
    # abort, or rollback during a rollout: accepted means that rollout must not commit
    rc=$(tail -n 1 "$out" | jget 'r["rollout"] if r.get("ok") and r.get("state") == "aborting" else ""' 2>/dev/null)
    [ -n "$rc" ] && ABORTED+=(--aborted "$rc")
  done
  OPS=()
  fault clear >/dev/null 2>&1 || violation proxy "the control proxy does not answer"
  for n in "${NODES[@]}"; do
    if [ -n "${NODE_STOPPED[$n]:-}" ]; then kill -CONT "${NODE_STOPPED[$n]}" 2>/dev/null; NODE_STOPPED[$n]=; fi
    if [ "${NODE_DEAD[$n]:-0}" = 1 ]; then
      spawn_node "$n"
      NODE_DEAD[$n]=0
    elif ! proc_alive "${NODE_PID[$n]}"; then
      rc=0
      wait "${NODE_PID[$n]}" 2>/dev/null || rc=$?
      violation node-died "edge-$n (pid ${NODE_PID[$n]}) exited with $rc without being killed; its log ends: $(grep -v '^counters' "$(node_log "$n")" | tail -n 3 | tr '\n' '|')"
      spawn_node "$n"
    fi
  done
  for n in "${NODES[@]}"; do
    node_wait_up "$n" || {
      violation node-start "edge-$n did not come up (no --zone, its last-known-good): $(grep -v '^counters' "$(node_log "$n")" | tail -n 5 | tr '\n' '|')"
      return 1
    }
  done
  serve_watch
  if [ "$SERVE_KILLED" = 1 ]; then spawn_serve; SERVE_KILLED=0; fi
  serve_up || {
    violation serve-start "edgectl serve did not come up on its state dir: $(tail -n 5 "$(serve_log)" | tr '\n' '|')"
    return 1
  }
  sort -s -g -k1.2,1 -o "$ACTLOG" "$ACTLOG"
  act "every process is up"
  res=$("$PY" "$CHAOS" settle --edgectl "$EDGECTL" --socket "$CTL_SOCK" --timeout "$IDLE_S")
  act "$res"
  [[ $res == idle* ]] || { violation not-idle "$res"; return 1; }
  rc=0
  "$PY" "$CHAOS" check --edgectl "$EDGECTL" --socket "$CTL_SOCK" --state "$CTL_STATE" \
    --grace "$GRACE_S" --since "$T0_EPOCH" "${ABORTED[@]}" "${AGENTS[@]}" \
    >"$SDIR/check.json" 2>"$SDIR/check.err" || rc=$?
  if ((rc > 1)) || ! jget 'r["ok"]' <"$SDIR/check.json" >/dev/null 2>&1; then
    violation checker "the invariant check itself failed (exit $rc): $(tail -n 3 "$SDIR/check.err" | tr '\n' '|')"
    return 1
  fi
  while IFS=$'\t' read -r c d; do [ -n "$c" ] && violation "$c" "$d"; done < <(
    jget '"\n".join(v["check"] + "\t" + v["detail"] for v in r["violations"])' <"$SDIR/check.json")
  serve_watch
  # A crash hidden by a restart still shows in the logs of this schedule's serves.
  local k c
  for ((k = SERVE_FIRST; k <= SERVE_STARTS; k++)); do
    c=$(grep -hE 'terminate called|Aborted|Segmentation fault|core dumped|Assertion' "$TMP/serve.$k.log" 2>/dev/null |
      head -n 2 | tr '\n' '|')
    [ -n "$c" ] && violation serve-died "serve.$k.log: $c"
  done
  return 0
}

report() {  # I POLICY
  local i=$1 v
  VIOLATIONS=$((VIOLATIONS + ${#VIOL[@]}))
  VIOL_SCHEDULES=$((VIOL_SCHEDULES + 1))
  fail "seed $SEED schedule $i: ${#VIOL[@]} violation(s)"
  echo "    replay: CHAOS_SEED=$SEED CHAOS_SCHEDULES=$((i + 1)); policy: $2"
  echo "    actions:"
  indent <"$ACTLOG" | sed 's/^/    /'
  echo "    violations:"
  for v in "${VIOL[@]}"; do echo "      $v"; done
  if [ -s "$SDIR/check.json" ]; then
    echo "    evidence:"
    jget 'json.dumps(r["evidence"], indent=1, sort_keys=True)' <"$SDIR/check.json" | sed 's/^/      /'
  fi
  echo "    serve log (last 12 lines):"
  tail -n 12 "$(serve_log)" | sed 's/^/      | /'
  [ -n "$FINDINGS" ] || return 0
  {
    echo
    echo "## seed $SEED schedule $i ($(date -u +%FT%TZ))"
    echo "replay: \`CHAOS_SEED=$SEED CHAOS_SCHEDULES=$((i + 1))\`; policy: $2"
    echo
    for v in "${VIOL[@]}"; do echo "- $v"; done
    echo
    echo '```'
    cat "$ACTLOG"
    if [ -s "$SDIR/check.json" ]; then
      echo "journal (times from the schedule's start):"
      jget '"\n".join(r["evidence"].get("journal", []))' <"$SDIR/check.json"
      echo "nodes: $(jget 'json.dumps(r["evidence"]["nodes"], sort_keys=True)' <"$SDIR/check.json")"
    fi
    echo '```'
  } >>"$FINDINGS"
}

# ---------------------------------------------------------------- schedules
RUN=0
START=$SECONDS
for ((i = 0; i < NSCHED; i++)); do
  if ((SECONDS - START >= BUDGET)); then
    log "time budget of $BUDGET s reached: $RUN of $NSCHED schedule(s) run"
    break
  fi
  SDIR=$TMP/s$i
  mkdir -p "$SDIR"
  ACTLOG=$SDIR/actions
  : >"$ACTLOG"
  VIOL=()
  SERVE_FIRST=$SERVE_STARTS
  mapfile -t EVENTS < <("$PY" "$CHAOS" schedule --seed "$SEED" --index "$i")
  read -r _ b1 b2 b3 b4 ond onr <<<"${EVENTS[0]}"
  write_policy "$SDIR/policy.yaml" 0 10 "$b1 $b2 $b3 $b4" <<EOF
  on_node_down: $ond
on_restart: $onr
EOF
  sed -i 's/interval_s: 0.5/interval_s: 0.1/; s/probe_timeout_s: 1/probe_timeout_s: 0.5/' "$SDIR/policy.yaml"
  POLICY="bakes $b1 $b2 $b3 $b4, on_node_down: $ond, on_restart: $onr"
  log "schedule $i: ${#EVENTS[@]} event(s); $POLICY"
  T0=$(now_us)
  T0_EPOCH=$EPOCHREALTIME
  for e in "${EVENTS[@]:1}"; do
    read -r t kind a1 a2 a3 <<<"$e"
    t=${t/./}
    left=$((T0 + 10#$t * 10000 - $(now_us)))
    ((left > 0)) && sleep "$(printf '%d.%06d' $((left / 1000000)) $((left % 1000000)))"
    serve_watch
    do_action "$kind" "${a1:-}" "${a2:-}" "${a3:-}"
  done
  settle
  ok=$?
  RUN=$((RUN + 1))
  if ((${#VIOL[@]})); then
    report "$i" "$POLICY"
    ok=1
  else
    log "schedule $i: every invariant holds ($(printf '%s\n' "${EVENTS[@]:1}" | awk '{ printf "%s%s", n++ ? ", " : "", $2 }'))"
  fi
  if ((ok != 0 && i + 1 < NSCHED)); then
    log "fresh fleet for the next schedule"
    fleet_fresh || { fail "the fleet did not come back up; stopping"; break; }
  fi
done

touch "$TMP/load.stop"
wait "$LOAD_PID" 2>/dev/null
kinds=""
for k in $(printf '%s\n' "${!KINDS[@]}" | sort); do kinds="$kinds $k=${KINDS[$k]}"; done
log "fleet_chaos summary: seed $SEED, $RUN schedule(s) run, actions:$kinds; $VIOLATIONS violation(s) in $VIOL_SCHEDULES schedule(s); load: $(cat "$TMP/load.json" 2>/dev/null)"
harness_summary fleet_chaos.sh "seed $SEED, $RUN schedules"
