#!/usr/bin/env bash
# The EdgeDNS main job, end to end on this machine (root, Debian 12):
#
#   ./scripts/demo.sh
#
# 1. installs whatever is missing and builds (scripts/setup.sh);
# 2. checks every bundled example zone (zones/examples/*.zone) with
#    `edgectl check-zone`;
# 3. answers a few queries per zone from all of them loaded together with
#    `edgectl query` (the answer engine, offline).
# 4. brings up a small fleet on this host (scripts/fleet_demo.sh): three
#    edgedns nodes with --idle-sleep, each in its own network namespace on a
#    veth into one client namespace, starts `edgectl serve` there, pushes the
#    example zones through the full staged rollout (one lcore of the first
#    node, that node, the next wave, all) with a short bake while showing its
#    live progress, and shows dig answers from every node; then removes it all.
#    (dataplane/demo_netns.sh is the single-node demo, with ping and counters.)
#
# Environment: EDGEDNS_BUILD (build dir, default build), EDGEDNS_SKIP_SETUP=1,
# EDGEDNS_EXAMPLES (another directory of *.zone files), EDGEDNS_DEMO_BAKE
# (seconds per rollout stage, default 2).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$EDGEDNS_ROOT"

EDGECTL="$EDGEDNS_BUILD_DIR/control/edgectl"
EXAMPLES_DIR="${EDGEDNS_EXAMPLES:-$EDGEDNS_ROOT/zones/examples}"
ZONE_FILES=()

step_build() {
  section "set-up and build ($EDGEDNS_BUILD)"
  setup_and_build </dev/null
  [ -x "$EDGECTL" ] || die "$EDGECTL was not built"
}

step_find_zones() {
  shopt -s nullglob
  ZONE_FILES=("$EXAMPLES_DIR"/*.zone)
  shopt -u nullglob
  ((${#ZONE_FILES[@]})) || die "no example zones in $EXAMPLES_DIR"
}

step_check_zones() {
  section "edgectl check-zone"
  local f
  for f in "${ZONE_FILES[@]}"; do
    note "\$ edgectl check-zone ${f#"$EDGEDNS_ROOT"/}"
    "$EDGECTL" check-zone "$f"
  done
}

# One query against every example zone loaded together, printed dig-style.
show_query() {
  local zargs=() f
  for f in "${ZONE_FILES[@]}"; do zargs+=(--zone "$f"); done
  note ""
  # "--" ends the repeatable --zone list (CLI11 lets it take every value).
  note "\$ edgectl query --zone ${EXAMPLES_DIR#"$EDGEDNS_ROOT"/}/*.zone -- $*"
  "$EDGECTL" query "${zargs[@]}" -- "$@" || note "(edgectl query exited $?)"
}

step_query_zones() {
  section "edgectl query (the answer engine, offline)"
  local f o
  for f in "${ZONE_FILES[@]}"; do
    o=$(zone_origin "$f")
    show_query "$o" SOA
    show_query "$o" NS
    show_query "$o" MX
    show_query "www.$o" A
    show_query "no-such-name.$o" A
  done
  show_query "www.example.invalid." A  # in no loaded zone: REFUSED
}

step_fleet() {
  section "a fleet of three edgedns nodes, edgectl serve, a staged rollout of the example zones"
  "$EDGEDNS_ROOT/scripts/fleet_demo.sh" "${ZONE_FILES[@]}"
}

# Steps in order.
DEMO_STEPS=(step_build step_find_zones step_check_zones step_query_zones step_fleet)

main() {
  local s
  for s in "${DEMO_STEPS[@]}"; do "$s"; done
  section "demo done"
}

main "$@"
