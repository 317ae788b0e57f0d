#!/usr/bin/env bash
# architecture_refs.sh: docs/ARCHITECTURE.md names, for each of Go's runtime
# functions, gort's counterpart and the line that defines it
# (| Go | `name` | `path:line` | ... |). Check that each named line holds
# the name, and say where it moved when it does not.
#
#   tests/docs/architecture_refs.sh <source dir>
set -euo pipefail
src=$1
doc=$src/docs/ARCHITECTURE.md
status=0
rows=0
while IFS= read -r row; do
  name=$(awk -F'|' '{print $3}' <<<"$row" | { grep -o '`[^`]*`' || true; } | sed -n 1p | tr -d '`')
  ref=$(awk -F'|' '{print $4}' <<<"$row" | { grep -o '`[^`]*:[0-9][0-9]*`' || true; } | sed -n 1p | tr -d '`')
  [[ -n $name && -n $ref ]] || continue
  rows=$((rows + 1))
  file=${ref%:*}
  line=${ref##*:}
  if [[ ! -f $src/$file ]]; then
    echo "FAIL: $name: no file $file"
    status=1
  elif ! sed -n "${line}p" "$src/$file" | grep -qw -- "$name"; then
    echo "FAIL: $name is not at $ref; defined at: $(grep -nw -- "$name" "$src/$file" | grep -v '^[0-9]*:\s*//' | sed -n 1,3p | cut -d: -f1 | tr '\n' ' ')"
    status=1
  fi
done < <(grep '^| ' "$doc")
if ((rows == 0)); then
  echo "FAIL: no references found in $doc"
  exit 1
fi
((status == 0)) && echo "PASS: $rows references"
exit $status
