# Sanitizer lanes for tests/run_all.sh (sourced after scripts/lib.sh): the
# unit tests built and run once more with AddressSanitizer + UndefinedBehavior
# Sanitizer (assertions on), and the concurrent pieces (RCU publication, the
# version registry, the node agent and the protocol server) with
# ThreadSanitizer. Each lane is its own meson build directory beside the main
# one, configured once and rebuilt incrementally, with warnings as errors.

# Tests the TSan lane runs: the code whose correctness depends on ordering
# between threads (publisher, registry, agent, protocol server).
TSAN_TESTS='^(dataplane_zone_publisher_test|dataplane_registry_test|dataplane_agent_test|proto_.*_test|fuzz_replay_control)$'

lane_dir() { echo "$EDGEDNS_BUILD_DIR-$1"; }

lane_desc() {
  case $1 in
    asan) echo "AddressSanitizer + UndefinedBehaviorSanitizer, assertions on, every unit test" ;;
    tsan) echo "ThreadSanitizer, the publisher, registry, agent and protocol server tests" ;;
  esac
}

lane_tests() {
  case $1 in
    asan) echo "." ;;  # every test, and only what the tests link
    tsan) echo "$TSAN_TESTS" ;;
  esac
}

# lane_build LANE: configures (first time) and builds what the lane runs.
lane_build() {
  local lane=$1 dir san
  dir=$(lane_dir "$lane")
  case $lane in
    asan) san=address,undefined ;;
    tsan) san=thread ;;
    *) echo "lanes: unknown lane $lane" >&2; return 2 ;;
  esac
  if [ ! -f "$dir/build.ninja" ]; then
    # -O1 with line tables: sanitizer reports name file:line, and the lane
    # compiles in about half the time of -O2 -g. b_lundef=false: sanitizer
    # runtimes resolve some symbols at load time.
    meson setup "$dir" -Dbuildtype=plain -Doptimization=1 -Db_ndebug=false \
      -Db_sanitize="$san" -Db_lundef=false -Dwerror=true -Dbenchmarks=disabled \
      "-Dcpp_args=-g1 -fno-omit-frame-pointer -fno-sanitize-recover=all" || return 1
  fi
  local sel targets=()
  sel=$(lane_tests "$lane")
  if [ -z "$sel" ]; then
    ninja -C "$dir" || return 1
    return 0
  fi
  # Only the selected tests' executables (paths relative to the build dir).
  mapfile -t targets < <(meson introspect "$dir" --tests | "$PY" -c '
import json, os, re, sys
sel, d = re.compile(sys.argv[1]), os.path.realpath(sys.argv[2])
for t in json.load(sys.stdin):
    if sel.search(t["name"]):
        print(os.path.relpath(os.path.realpath(t["cmd"][0]), d))
' "$sel" "$dir")
  ((${#targets[@]})) || { echo "lanes: no test matches $sel" >&2; return 1; }
  ninja -C "$dir" "${targets[@]}"
}

# Sanitizer options for a lane's test runs: stop at the first report and make
# it fail the test binary.
lane_env() {
  case $1 in
    asan)
      export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:abort_on_error=0:strict_string_checks=1"
      export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
      ;;
    tsan)
      export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:history_size=4"
      ;;
  esac
}

lane_env_clear() { unset ASAN_OPTIONS UBSAN_OPTIONS TSAN_OPTIONS; }
