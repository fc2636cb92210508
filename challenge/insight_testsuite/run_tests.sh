#!/usr/bin/env bash
# Runs every folder of tests/ as the challenge's test suite does: the project's run.sh, src/, and the test's
# log_input/ staged in a scratch folder (temp/), run.sh run there, and log_output/flagged_purchases.json compared
# with the test's, ignoring whitespace and blank lines. Drop more test folders (log_input/batch_log.json,
# log_input/stream_log.json, log_output/flagged_purchases.json) into tests/. Exits non-zero if any test fails.
set -uo pipefail

suite=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
project=$(dirname "$suite")
scratch="$suite/temp"
passed=0
total=0

for test in "$suite"/tests/*/; do
  name=$(basename "$test")
  total=$((total + 1))
  rm -rf "$scratch"
  mkdir -p "$scratch/log_input" "$scratch/log_output"
  cp -r "$project/src" "$project/run.sh" "$scratch/"
  cp "$test/log_input/batch_log.json" "$test/log_input/stream_log.json" "$scratch/log_input/"
  (cd "$scratch" && bash run.sh 2>&1)
  got="$scratch/log_output/flagged_purchases.json"
  if [[ -f "$got" ]] && diff -wubB "$got" "$test/log_output/flagged_purchases.json" >/dev/null; then
    echo "[PASS]: $name"
    passed=$((passed + 1))
  else
    echo "[FAIL]: $name"
    [[ -f "$got" ]] && diff -wubB "$got" "$test/log_output/flagged_purchases.json"
  fi
done

echo "$passed of $total tests passed"
[[ "$passed" -eq "$total" ]]
