#!/usr/bin/env bash
# `edgectl check-zone` rejects each broken zone of tests/data/checkzone with
# exit 1 and an error naming the offending line, and accepts the example zones
# with exit 0. Fixtures: tests/data/checkzone/*.zone.
set -uo pipefail
. "$(dirname "$0")/../../scripts/lib.sh"  # EDGECTL (EDGEDNS_BUILD may be absolute)
D="$EDGEDNS_ROOT/tests/data/checkzone"
fail=0
# file : line : text the error must contain
cases=(
  "nosoa.zone:3:no SOA record"
  "twosoa.zone:6:more than one SOA"
  "nons.zone:3:no NS records"
  "cname.zone:7:CNAME and other data"
  "badaddr.zone:6:bad IPv4 address"
  "badesc.zone:6:bad \\DDD escape"
  "bad3597.zone:6:RFC 3597 length 3 does not match"
  "label.zone:6:label longer than 63"
  "ooz.zone:6:outside zone"
  "glue.zone:6:missing glue"
  "dname.zone:7:below the DNAME"
  "paren.zone:6:unbalanced parenthesis"
)
for c in "${cases[@]}"; do
  file=${c%%:*}; rest=${c#*:}; line=${rest%%:*}; text=${rest#*:}
  out=$("$EDGECTL" check-zone "$D/$file" 2>&1); rc=$?
  if [ "$rc" -ne 1 ]; then
    echo "FAIL $file: exit $rc, expected 1"; fail=1; continue
  fi
  if ! grep -qF -- "$file:$line: error: " <<<"$out" || ! grep -F -- "$file:$line: error: " <<<"$out" | grep -qF -- "$text"; then
    echo "FAIL $file: no error at line $line containing '$text'; got:"; echo "$out"; fail=1; continue
  fi
  echo "ok   $file:$line $text"
done
for f in "$EDGEDNS_ROOT"/zones/examples/*.zone; do
  if ! out=$("$EDGECTL" check-zone "$f" 2>&1); then
    echo "FAIL $(basename "$f") should be valid:"; echo "$out"; fail=1
  fi
done
[ $fail -eq 0 ] && echo "check_zone_cli: all ${#cases[@]} broken zones rejected at their line; examples valid"
exit $fail
