#!/usr/bin/env bash
# The README test command's fuzz step: replays every committed reproducer and
# runs each libFuzzer target (tests/fuzz/README.md) for a short while, 20 s by
# default (FUZZ_BRIEF_SECONDS), two at a time. Fails on any crash, leak,
# timeout or broken invariant. Uses its own build directory,
# ${EDGEDNS_BUILD:-build}-fuzz, configured with clang (installed by
# scripts/setup.sh). Bounded: about 2 x 20 s of fuzzing plus the build.
set -euo pipefail
cd "$(dirname "$0")/../.."
export EDGEDNS_FUZZ_BUILD="${EDGEDNS_BUILD:-build}-fuzz"
export FUZZ_JOBS=2
secs=${FUZZ_BRIEF_SECONDS:-20}
exec timeout --kill-after=10 840 tests/fuzz/run.sh "$secs" query zone_parser delta control
