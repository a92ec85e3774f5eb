#!/usr/bin/env bash
# House-style checks the compiler does not make (CONTRIBUTING.md):
#   - every C++ and CUDA source is formatted as .clang-format says (clang-format 14, Debian 12);
#   - no source file is longer than 600 lines: split it by concern instead.
# Exit 1 with the offending files listed. `bash scripts/check-style.sh --fix` formats in place.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t files < <(git ls-files '*.cpp' '*.h' '*.cu' '*.cuh' | grep -v '/node_modules/')
else
  mapfile -t files < <(find bench cpu cuda datasets engine io service tests \( -name '*.cpp' -o -name '*.h' -o -name '*.cu' \
                         -o -name '*.cuh' \) -not -path '*/node_modules/*' | sort)
fi
if [ "${1:-}" = "--fix" ]; then
  clang-format -i "${files[@]}"
  exit 0
fi
status=0
if ! clang-format --dry-run --Werror "${files[@]}" 2>/tmp/meshexport-format.$$; then
  echo "check-style: not formatted (bash scripts/check-style.sh --fix):" >&2
  grep -o '^[^:]*:' /tmp/meshexport-format.$$ | sort -u | sed 's/:$//; s/^/  /' >&2
  status=1
fi
rm -f /tmp/meshexport-format.$$
long=$(wc -l "${files[@]}" | awk '$2 != "total" && $1 > 600 { print "  " $2 " (" $1 " lines)" }')
if [ -n "$long" ]; then
  echo "check-style: files over 600 lines (split them by concern):" >&2
  echo "$long" >&2
  status=1
fi
[ $status = 0 ] && echo "check-style: ${#files[@]} files formatted, none over 600 lines"
exit $status
