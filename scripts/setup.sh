#!/usr/bin/env bash
# Installs every Debian package EdgeDNS needs to build, test and demo, then
# configures and builds into build/. Idempotent: installs only what is missing
# and reuses an existing build directory. Must run as root on Debian 12.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  # build
  meson ninja-build pkg-config g++ git
  # libraries
  libdpdk-dev dpdk dpdk-dev liburcu-dev libxxhash-dev libgtest-dev libbenchmark-dev
  nlohmann-json3-dev libyaml-cpp-dev libcli11-dev libfmt-dev
  libssl-dev openssl  # mutual TLS of the control connections (proto/tls.hh, scripts/pki.sh)
  # peers and clients for tests and benches
  knot knot-dnsutils dnsutils nsd dnsperf python3 python3-dnspython
  knot-dnssecutils  # kzonecheck: checks the differential-test zones
  clang-14 libclang-rt-14-dev  # libFuzzer + ASan/UBSan: tests/fuzz (run by tests/integration/fuzz_brief.sh)
  clang-format-14  # tests/integration/format_check.sh: the tree follows .clang-format
  # test hosts
  iproute2 ethtool iputils-ping netcat-openbsd procps
  nftables  # tests/integration/fleet_failures.sh: a network partition of one node
  hping3  # bench/exception_flood.sh: the TCP SYN flood
)

missing=()
for p in "${PACKAGES[@]}"; do
  # No pipe into grep -q: under pipefail its early exit can fail the pipeline.
  [[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) == *"install ok installed"* ]] || missing+=("$p")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing packages ${missing[*]}; run as root to install them" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# Debian's knot and nsd packages try to start system services; tests run their
# own private instances, so keep the packaged ones out of the way.
for svc in knot nsd; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
    systemctl stop "$svc" || true
  fi
done

# EDGEDNS_BUILD picks another build directory (developers working side by side).
build_dir="${EDGEDNS_BUILD:-build}"
if [ ! -f "$build_dir/build.ninja" ]; then
  meson setup "$build_dir" --buildtype=release -Dwerror=true
fi
ninja -C "$build_dir"
