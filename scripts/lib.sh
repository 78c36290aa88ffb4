# Shell helpers shared by scripts/demo.sh, tests/run_all.sh and bench/*.sh.
# Source it (`. "$(dirname "$0")/../scripts/lib.sh"`); it defines functions
# and variables only and changes nothing by itself.

# Repository root, whatever the caller's working directory.
EDGEDNS_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Build directory: build/ unless EDGEDNS_BUILD names another (relative to the root).
EDGEDNS_BUILD="${EDGEDNS_BUILD:-build}"
case "$EDGEDNS_BUILD" in
  /*) EDGEDNS_BUILD_DIR="$EDGEDNS_BUILD" ;;
  *) EDGEDNS_BUILD_DIR="$EDGEDNS_ROOT/$EDGEDNS_BUILD" ;;
esac
export EDGEDNS_BUILD

# The Debian python with dnspython; a pyenv python may shadow it on PATH.
PY=/usr/bin/python3

section() { printf '\n== %s\n' "$*"; }
note() { printf '%s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Packages and the build: scripts/setup.sh installs what is missing (as root)
# and builds into $EDGEDNS_BUILD. EDGEDNS_SKIP_SETUP=1 only builds.
setup_and_build() {
  if [ "${EDGEDNS_SKIP_SETUP:-0}" = 1 ]; then
    [ -f "$EDGEDNS_BUILD_DIR/build.ninja" ] || meson setup "$EDGEDNS_BUILD_DIR" --buildtype=release
    ninja -C "$EDGEDNS_BUILD_DIR"
  else
    "$EDGEDNS_ROOT/scripts/setup.sh"
  fi
}

# Runs "$@" with a bound on wall time (seconds in $1), children included.
bounded() {
  local secs=$1
  shift
  timeout --kill-after=10 "$secs" "$@"
}

# kernel_ignores_port NETNS IFACE: the interface is a DPDK port of edgedns
# (net_af_packet or net_af_xdp on a veth). AF_PACKET hands every frame to the
# kernel's stack as well as to the PMD; once edgedns's exception tap holds the
# service addresses, that stack would answer the same queries itself (ICMP
# port-unreachable, TCP resets, ARP). This kernel has no tc classifier
# actions, so the stack is told to ignore the interface: no IPv6 on it,
# strict reverse-path filtering (the route back to any client is the tap's
# or none, never this interface, so every IPv4 packet arriving here is
# dropped after the packet socket took its copy), and no ARP answers.
kernel_ignores_port() {
  local ns=$1 ifc=$2
  ip netns exec "$ns" sysctl -qw "net.ipv6.conf.$ifc.disable_ipv6=1" \
    "net.ipv4.conf.$ifc.rp_filter=1" "net.ipv4.conf.$ifc.arp_ignore=8"
}
