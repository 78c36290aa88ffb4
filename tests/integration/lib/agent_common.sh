# Shared by tests/integration/agent_*.sh, hostile_control.sh and
# bench/agent_*.sh, bench/soak.sh (sourced): the test host of the harness
# (lib/harness.sh) with edgedns on net_af_packet and --control $SOCK, clients
# in the other namespace (IPv4). Sets what harness_init sets, and SOCK.

. "$(dirname "${BASH_SOURCE[0]}")/harness.sh"
AGENT_PY="$ROOT/tests/integration/lib/agent_client.py"
harness_init eda 54 --ipv4-only
SOCK=$TMP/control.sock

# setup_veth QUEUES
setup_veth() { testhost_up "$1"; }

# start_edgedns_agent NAME LCORES QUEUES EXTRA-ARGS...: edgedns with --control $SOCK.
# Returns 1 (after printing the log) when it does not come up.
start_edgedns_agent() {
  local name=$1 lcores=$2 q=$3
  shift 3
  start_edgedns "$name" "$lcores" "$(vdev af_packet "$q")" --listen "$SRV4" --control "$SOCK" --idle-sleep "$@"
}

# agent CMD [JSON-ARGS]: one control call, the reply on stdout (JSON).
agent() { timeout 120 "$PY" "$AGENT_PY" "$SOCK" "$@"; }
# zone_text N: version N of the agent tests' zone (lib/agent_client.py), as a JSON string.
zt() { "$PY" -c "import sys, json; sys.path.insert(0, '$ROOT/tests/integration/lib'); import agent_client as a; print(json.dumps(a.zone_text($1)))"; }
# write_zone N FILE: version N of that zone in FILE.
write_zone() { "$PY" -c "import sys; sys.path.insert(0, '$ROOT/tests/integration/lib'); import agent_client as a; open('$2', 'w').write(a.zone_text($1))"; }

in_cli() { bounded 20 ip netns exec "$CLI" "$@"; }  # scripts/lib.sh: TERM, then KILL
