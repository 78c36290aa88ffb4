#!/usr/bin/env bash
# Runs every libFuzzer target (or the ones named) for SECONDS each, one after
# the other, and fails when any of them finds a crash, a leak, a timeout or a
# broken invariant. Builds the fuzz build directory first when needed (clang
# from Debian: scripts/setup.sh installs it).
#
#   tests/fuzz/run.sh SECONDS [query|zone_parser|delta|control ...]
#
# Before fuzzing, each target replays its committed reproducers
# (tests/fuzz/regressions/<target>/). New corpus entries go to
# $BUILD/fuzz-corpus/<target>/ (the committed seeds in tests/fuzz/corpus/ are
# only read); a finding is written to $BUILD/fuzz-artifacts/<target>/ and
# its path printed. The last line per target says how many inputs ran.
#
# Environment: EDGEDNS_FUZZ_BUILD (build directory, default build-fuzz),
# FUZZ_JOBS (targets run at once, default 1; the machine has 2 cores),
# FUZZ_ARGS (extra libFuzzer flags).
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$PWD

secs=${1:-}
if ! [[ $secs =~ ^[0-9]+$ ]] || ((secs < 1)); then
  echo "usage: $0 SECONDS [target ...]" >&2
  exit 2
fi
shift
targets=("$@")
((${#targets[@]})) || targets=(query zone_parser delta control)
jobs=${FUZZ_JOBS:-1}

build=${EDGEDNS_FUZZ_BUILD:-build-fuzz}
case "$build" in /*) ;; *) build="$root/$build" ;; esac

cxx=
for c in clang++-14 clang++; do
  if command -v "$c" >/dev/null 2>&1; then cxx=$c; break; fi
done
if [ -z "$cxx" ]; then
  echo "fuzz: no clang++ (scripts/setup.sh installs clang-14 and libclang-rt-14-dev)" >&2
  exit 1
fi
if [ ! -f "$build/build.ninja" ]; then
  CXX=$cxx meson setup "$build" -Dfuzz=true -Dbuildtype=debugoptimized \
    -Ddataplane=disabled -Dbenchmarks=disabled || exit 1
fi
ninja -C "$build" -j2 "${targets[@]/#/tests/fuzz/fuzz_}" || exit 1

# Per-target libFuzzer flags: input size caps (a DNS query fits 600 bytes;
# zone texts and control streams need more) and dictionaries.
declare -A extra=(
  [query]="-max_len=600"
  [zone_parser]="-max_len=16384 -dict=$root/tests/fuzz/dict/zone.dict"
  [delta]="-max_len=512 -dict=$root/tests/fuzz/dict/delta.dict"
  [control]="-max_len=8192 -dict=$root/tests/fuzz/dict/control.dict"
)

run_one() {
  local t=$1 bin="$build/tests/fuzz/fuzz_$1"
  local corpus="$build/fuzz-corpus/$t" art="$build/fuzz-artifacts/$t/" log="$build/fuzz-logs/$t.log"
  mkdir -p "$corpus" "$art" "$(dirname "$log")"
  local reg="$root/tests/fuzz/regressions/$t"
  if compgen -G "$reg/*" >/dev/null; then
    if ! "$bin" -runs=1 "$reg"/* >"$log.replay" 2>&1; then
      tail -n 30 "$log.replay"
      echo "fuzz_$t: FAILED replaying tests/fuzz/regressions/$t (log: $log.replay)"
      return 1
    fi
  fi
  # -timeout: one input taking 10 s is a finding (a hang), not slowness.
  # shellcheck disable=SC2086
  "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$art" ${extra[$t]} ${FUZZ_ARGS:-} "$corpus" "$root/tests/fuzz/corpus/$t" \
    >"$log" 2>&1
  local rc=$?
  local execs
  execs=$(awk '/stat::number_of_executed_units:/{print $2}' "$log" | tail -n 1)
  if ((rc != 0)); then
    grep -E '^(==[0-9]+==|SUMMARY|fuzz invariant|artifact_prefix|Test unit written)' "$log" | sed -n 1,20p  # reads it all: head's early exit would break the pipe
    tail -n 15 "$log"
    echo "fuzz_$t: FAILED (exit $rc) after ${execs:-?} inputs; log: $log"
    return 1
  fi
  echo "fuzz_$t: ${execs:-?} inputs in $secs s, no finding (corpus $(ls "$corpus" | wc -l) entries)"
}

failed=0
pids=()
for t in "${targets[@]}"; do
  if [ ! -x "$build/tests/fuzz/fuzz_$t" ]; then
    echo "fuzz_$t: not built (unknown target?)"
    failed=1
    continue
  fi
  run_one "$t" &
  pids+=($!)
  if ((${#pids[@]} >= jobs)); then
    wait "${pids[0]}" || failed=1
    pids=("${pids[@]:1}")
  fi
done
for p in "${pids[@]}"; do wait "$p" || failed=1; done
exit $failed
