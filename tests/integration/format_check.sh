#!/usr/bin/env bash
# The C++ tree follows .clang-format: every tracked .cc/.hh file is already
# formatted (clang-format --dry-run reports nothing). A file that must keep a
# hand layout uses // clang-format off/on around that part.
set -euo pipefail
cd "$(dirname "$0")/../.."
cf=$(command -v clang-format-14 || command -v clang-format || true)
[ -n "$cf" ] || { echo "format_check: clang-format-14 is not installed (scripts/setup.sh installs it)" >&2; exit 1; }
mapfile -t files < <(git ls-files '*.cc' '*.hh')
((${#files[@]} > 0)) || { echo "format_check: no C++ files found" >&2; exit 1; }
bad=()
for f in "${files[@]}"; do
  if ! "$cf" --style=file --dry-run -Werror "$f" >/dev/null 2>&1; then bad+=("$f"); fi
done
if ((${#bad[@]})); then
  echo "format_check: ${#bad[@]} of ${#files[@]} files differ from .clang-format; first differences:" >&2
  for f in "${bad[@]:0:5}"; do
    echo "--- $f" >&2
    "$cf" --style=file "$f" | diff "$f" - | head -n 12 >&2 || true
  done
  echo "format_check: fix with: $cf -i --style=file ${bad[*]:0:5} ..." >&2
  exit 1
fi
echo "format_check: ${#files[@]} files follow .clang-format"
