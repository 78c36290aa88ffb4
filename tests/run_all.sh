#!/usr/bin/env bash
# The whole EdgeDNS test suite: set-up (packages + build), every GoogleTest
# binary that meson knows, then every integration script. Run as root on
# Debian 12 from anywhere in the tree:
#
#   ./tests/run_all.sh
#
# Counting: each GoogleTest TEST is one test; each integration script is one
# test (exit 0 = pass). A failed build counts as one failure. Every failure is
# printed with its output; logs of every run stay in $BUILD/test-logs/. The
# last line is exactly "N passed, N failed"; the exit status is non-zero when
# anything failed or when nothing ran.
#
# Integration scripts: executable files named *.sh or *.py directly in
# tests/integration/, run from the repository root with stdin closed and
# EDGEDNS_BUILD naming the build directory; each must exit 0 on pass and stop
# by itself (they are also killed after $EDGEDNS_TEST_TIMEOUT s, default 900).
#
# Environment: EDGEDNS_BUILD (build dir, default build), EDGEDNS_SKIP_SETUP=1
# (build only, no package check), EDGEDNS_ONLY=REGEX (run only tests and
# scripts whose name matches).
set -uo pipefail
. "$(dirname "$0")/../scripts/lib.sh"
. "$(dirname "$0")/../scripts/lanes.sh"
cd "$EDGEDNS_ROOT"

passed=0
failed=0
failures=()
only="${EDGEDNS_ONLY:-}"
script_timeout="${EDGEDNS_TEST_TIMEOUT:-900}"
start=$SECONDS

finish() {
  section "summary ($((SECONDS - start)) s)"
  for f in "${failures[@]}"; do note "FAILED: $f"; done
  if ((passed + failed == 0)); then
    note "no test ran"
  fi
  echo "$passed passed, $failed failed"
  if ((failed > 0 || passed == 0)); then exit 1; fi
  exit 0
}

# Prints a log's lines indented, at most the last $2 of them.
show_log() {
  tail -n "${2:-80}" "$1" | sed 's/^/    | /'
}

section "set-up and build ($EDGEDNS_BUILD)"
if ! setup_and_build </dev/null; then
  failed=$((failed + 1))
  failures+=("set-up or build (see the output above)")
  finish
fi

logdir="$EDGEDNS_BUILD_DIR/test-logs"
rm -rf "$logdir"
mkdir -p "$logdir"

# run_unit_tests BUILD_DIR LABEL [REGEX]: every GoogleTest binary registered
# with meson test() in BUILD_DIR (only names matching REGEX when given), each
# TEST counted once; LABEL prefixes names in the output (a lane's name).
run_unit_tests() {
  local bdir=$1 label=$2 sel=${3:-}
  local tests_tsv="$logdir/${label:+$label-}tests.tsv"
  # name<TAB>workdir<TAB>timeout<TAB>cmd args..., one registered test per line
  meson introspect "$bdir" --tests | "$PY" -c '
import json, sys
for t in json.load(sys.stdin):
    env = ["env"] + ["%s=%s" % kv for kv in sorted((t.get("env") or {}).items())]
    print("\t".join([t["name"], t.get("workdir") or "-", str(t.get("timeout") or 300)] + env + t["cmd"]))
' >"$tests_tsv" || { failed=$((failed + 1)); failures+=("${label:+$label: }meson introspect --tests"); }

  local row name workdir tmo cmd log t0 rc ok bad cut_off tc
  while IFS=$'\t' read -r -a row; do
    name=${row[0]}
    workdir=${row[1]}
    [ "$workdir" = - ] && workdir=$bdir
    tmo=${row[2]}
    cmd=("${row[@]:3}")
    [ -n "$only" ] && ! [[ $name =~ $only ]] && continue
    [ -n "$sel" ] && ! [[ $name =~ $sel ]] && continue
    log="$logdir/${label:+$label-}$name.log"
    name="${label:+$label:}$name"
    t0=$SECONDS
    ((tmo > 0)) || tmo=1800
    (cd "$workdir" && GTEST_COLOR=no bounded "$tmo" "${cmd[@]}") </dev/null >"$log" 2>&1
    rc=$?
    ok=$(grep -c '^\[       OK \] ' "$log")
    bad=$(grep -cE '^\[  FAILED  \] [^ ]+ \([0-9]+ ms\)$' "$log")
    if ! grep -q '^\[==========\] Running' "$log"; then
      # Not a GoogleTest binary: the test itself is the unit.
      if ((rc == 0)); then ok=1; bad=0; else ok=0; bad=1; fi
    fi
    # A crash, a timeout or a sanitizer report at exit cuts a test off, or
    # fails a binary whose tests all passed.
    cut_off=""
    if ((rc != 0)); then
      cut_off=$(awk '/^\[ RUN      \] /{cur=$4} /^\[       OK \] |^\[  FAILED  \] /{cur=""} END{print cur}' "$log")
      if [ -n "$cut_off" ] || ((bad == 0)); then bad=$((bad + 1)); fi
    fi
    passed=$((passed + ok))
    failed=$((failed + bad))
    if ((bad == 0)); then
      note "PASS $name: $ok test(s) ($((SECONDS - t0)) s)"
      continue
    fi
    note "FAIL $name: $ok passed, $bad failed (exit $rc, $((SECONDS - t0)) s)"
    while read -r tc; do
      failures+=("$name $tc")
      note "  --- $tc"
      # The test's own output, from its RUN line to its FAILED line.
      awk -v tc="$tc" '$0 == "[ RUN      ] " tc {p=1} p {print "    | " $0} p && index($0, "[  FAILED  ] " tc " (") == 1 {exit}' "$log" | tail -n 60
    done < <(grep -E '^\[  FAILED  \] [^ ]+ \([0-9]+ ms\)$' "$log" | awk '{print $4}')
    if [ -n "$cut_off" ]; then
      failures+=("$name $cut_off (exit $rc: crashed or timed out)")
      note "  --- $cut_off: exit $rc (crashed or timed out); last output:"
      show_log "$log" 40
    elif ! grep -qE '^\[  FAILED  \] [^ ]+ \([0-9]+ ms\)$' "$log"; then
      failures+=("$name (exit $rc)")
      show_log "$log" 40
    fi
  done <"$tests_tsv"
}

# ---- GoogleTest binaries, as registered with meson test()
section "unit tests (GoogleTest)"
run_unit_tests "$EDGEDNS_BUILD_DIR" ""

# ---- the same unit tests again in sanitizer builds (scripts/lanes.sh)
if [ "${EDGEDNS_SKIP_LANES:-0}" != 1 ]; then
  for lane in asan tsan; do
    section "unit tests under $lane ($(lane_desc "$lane"))"
    t0=$SECONDS
    if ! lane_build "$lane" >"$logdir/$lane-build.log" 2>&1; then
      failed=$((failed + 1))
      failures+=("$lane lane: build failed (log: $logdir/$lane-build.log)")
      note "FAIL $lane lane build ($((SECONDS - t0)) s):"
      show_log "$logdir/$lane-build.log" 60
      continue
    fi
    note "built $lane lane in $((SECONDS - t0)) s"
    lane_env "$lane"
    run_unit_tests "$(lane_dir "$lane")" "$lane" "$(lane_tests "$lane")"
    lane_env_clear
  done
fi

# ---- integration scripts
section "integration tests (tests/integration/*.sh, *.py)"
for script in tests/integration/*.sh tests/integration/*.py; do
  [ -f "$script" ] || continue
  if [ ! -x "$script" ]; then
    note "note: $script is not executable, so it is not a test (chmod +x to make it one)"
    continue
  fi
  name=$(basename "$script")
  [ -n "$only" ] && ! [[ $name =~ $only ]] && continue
  log="$logdir/integration-$name.log"
  t0=$SECONDS
  bounded "$script_timeout" "./$script" </dev/null >"$log" 2>&1
  rc=$?
  if ((rc == 0)); then
    passed=$((passed + 1))
    note "PASS $script ($((SECONDS - t0)) s): $(tail -n 1 "$log")"
  else
    failed=$((failed + 1))
    failures+=("$script (exit $rc)")
    note "FAIL $script (exit $rc, $((SECONDS - t0)) s); last lines of its output (full log: $log):"
    show_log "$log" 120
  fi
done

finish
