#!/usr/bin/env bash
# The differential corpus
# (tests/integration/diff_knot.py, 6,879 queries) re-run over TCP, one
# connection per query, through edgedns's port and kernel exception path
# (its TCP server) on AF_PACKET over IPv4 and AF_XDP over IPv6, against knotd
# over TCP; section by section equal, the documented differences aside.
# See dataplane_diff_knot.sh for the set-up.
exec "$(dirname "$0")/dataplane_diff_knot.sh" --transport tcp af_packet:4 af_xdp:6
