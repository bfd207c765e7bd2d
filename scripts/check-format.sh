#!/usr/bin/env bash
# Fails when a C++ file of the project is not formatted by .clang-format (clang-format 14, the
# version Debian 12 ships; another version may format differently). Lists the files and the
# command that fixes them. Usage: scripts/check-format.sh [CLANG_FORMAT]
set -euo pipefail
cd "$(dirname "$0")/.."
clang_format=${1:-${CLANG_FORMAT:-clang-format}}
if ! command -v "$clang_format" >/dev/null 2>&1; then
  for candidate in clang-format-14; do
    command -v "$candidate" >/dev/null 2>&1 && clang_format=$candidate && break
  done
fi
version=$("$clang_format" --version)
case "$version" in
  *"version 14."*) ;;
  *) echo "check-format: expected clang-format 14, found: $version" >&2; exit 2 ;;
esac
# Tracked files when this is a git checkout (nothing generated or vendored), else every source.
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t files < <(git ls-files -- '*.cc' '*.h' '*.cpp' '*.hpp' '*.c')
else
  mapfile -t files < <(find include src tests bench fuzz examples \
    -name '*.cc' -o -name '*.h' -o -name '*.cpp' -o -name '*.hpp' -o -name '*.c' 2>/dev/null)
fi
bad=()
for f in "${files[@]}"; do
  [ -f "$f" ] || continue
  if ! "$clang_format" --style=file --dry-run -Werror "$f" >/dev/null 2>&1; then bad+=("$f"); fi
done
if [ "${#bad[@]}" -gt 0 ]; then
  printf 'check-format: %d file(s) not formatted:\n' "${#bad[@]}" >&2
  printf '  %s\n' "${bad[@]}" >&2
  echo "fix: clang-format -i ${bad[*]}" >&2
  exit 1
fi
echo "check-format: ${#files[@]} files formatted"
