#!/usr/bin/env bash
# format.sh check|fix [CLANG_FORMAT] — the C sources against .clang-format:
# `check` lists the files clang-format would change and fails if there is
# one; `fix` rewrites them. Run by `meson compile -C build format-check` and
# `meson compile -C build format` (from the source root, whatever the cwd).
set -euo pipefail

mode=${1:-check}
clang_format=${2:-clang-format}
cd "${MESON_SOURCE_ROOT:-$(dirname "$0")/..}"

# The tracked C sources (a checkout), else every .c and .h below src/,
# include/ and tests/ (an unpacked tarball).
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t files < <(git ls-files -co --exclude-standard -- '*.c' '*.h' | grep -v node_modules)
else
  mapfile -t files < <(find src include tests -name '*.[ch]' | sort)
fi

differ=()
for f in "${files[@]}"; do
  [ -f "$f" ] || continue
  if ! "$clang_format" --style=file "$f" | cmp -s - "$f"; then
    differ+=("$f")
  fi
done

case "$mode" in
check)
  if [ ${#differ[@]} -gt 0 ]; then
    printf '%s\n' "${differ[@]}"
    echo "format-check: ${#differ[@]} of ${#files[@]} files differ from .clang-format" \
      "(meson compile -C build format rewrites them)" >&2
    exit 1
  fi
  echo "format-check: ${#files[@]} files match .clang-format"
  ;;
fix)
  for f in "${differ[@]}"; do
    "$clang_format" --style=file -i "$f"
    echo "formatted $f"
  done
  ;;
*)
  echo "usage: format.sh check|fix [clang-format]" >&2
  exit 2
  ;;
esac
