#!/usr/bin/env bash
# Runs every libFuzzer target of a fuzz build for SECONDS each, starting from its committed seeds
# (tests/fuzz/corpus/NAME); new inputs go to a scratch corpus, never into the tree. A crash or a
# broken invariant stops the run with the target's report and the input that caused it (saved
# as crash-* in the scratch directory, printed at the end): turn it into a unit test.
# The mutation sequence starts from FUZZ_SEED (default 1), so a run is reproducible.
#   scripts/run-fuzz.sh BUILD_DIR [SECONDS]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="$(cd "${1:?usage: run-fuzz.sh BUILD_DIR [SECONDS]}" && pwd)"
seconds="${2:-30}"
work="$(mktemp -d /tmp/portcullis-fuzz-XXXXXX)"
status=0
for target in "$build"/tests/fuzz/*_fuzz; do
  [ -x "$target" ] || continue
  name="$(basename "$target")"
  mkdir -p "$work/$name/corpus"
  seeds="$root/tests/fuzz/corpus/$name"
  echo "== $name: ${seconds}s"
  if ! (cd "$work/$name" && "$target" -seed="${FUZZ_SEED:-1}" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 corpus "$seeds" > log.txt 2>&1); then
    echo "$name FAILED; report and reproducer in $work/$name:" >&2
    tail -40 "$work/$name/log.txt" >&2
    ls "$work/$name" >&2
    status=1
  else
    grep -E "stat::number_of_executed_units|Done" "$work/$name/log.txt" | tail -2
  fi
done
[ "$status" = 0 ] && rm -rf "$work"
exit "$status"
