#!/usr/bin/env bash
# Fails if core/ reaches for I/O, the clock, allocation or any library beyond the C standard's math.
set -eu
cd "$(dirname "$0")/.."
bad=0
# Only these standard headers, plus core's own.
while IFS= read -r line; do
  echo "core purity: forbidden include: $line" >&2
  bad=1
done < <(grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*<' core/*.c core/*.h |
         grep -vE '<(stdint|stddef|stdbool|math)\.h>' || true)
# Quoted includes must be core's own headers.
while IFS= read -r line; do
  hdr=$(sed -E 's/.*#[[:space:]]*include[[:space:]]*"([^"]+)".*/\1/' <<<"$line")
  if [ ! -f "core/$hdr" ]; then
    echo "core purity: include from outside core/: $line" >&2
    bad=1
  fi
done < <(grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' core/*.c core/*.h || true)
# No calls that allocate, print, read the clock or touch files, whatever header brought them.
while IFS= read -r line; do
  echo "core purity: forbidden call: $line" >&2
  bad=1
done < <(grep -nwE '(malloc|calloc|realloc|free|printf|fprintf|sprintf|snprintf|puts|fopen|time|clock_gettime|gettimeofday|getenv|rand|srand|abort|exit)[[:space:]]*\(' core/*.c core/*.h || true)
# No mutable file-scope state: every file-scope variable must be const.
while IFS= read -r line; do
  echo "core purity: file-scope variable that is not const: $line" >&2
  bad=1
done < <(grep -nE '^(static[[:space:]]+)?(int|double|bool|char|unsigned|long|uint[0-9]+_t|int[0-9]+_t|size_t|float)[[:space:]*]+[A-Za-z_][A-Za-z0-9_]*[[:space:]]*(\[|=|;)' core/*.c || true)
if [ "$bad" -ne 0 ]; then
  exit 1
fi
echo "core purity: ok ($(ls core/*.c | wc -l) sources, standard headers only, no I/O, clock, allocation or globals)"
