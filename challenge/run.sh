#!/usr/bin/env bash
# The Insight "anomaly detection" challenge's entry point (seed 003): ./log_input -> ./log_output, run from the folder
# that holds them, as the challenge's test suite runs it (it copies this file, src/ and the two folders to a scratch
# folder first). The implementation is clickguard's file mode: `clickguard network` (README, "The file mode").
set -euo pipefail

# The clickguard of this checkout (after `make setup` or `make test`): the nearest folder above with a .venv that
# has it, wherever the test suite copied this script; else one on PATH.
find_clickguard() {
  local dir
  dir=$(pwd -P)
  while [[ "$dir" != "/" ]]; do
    if [[ -x "$dir/.venv/bin/clickguard" && -f "$dir/pyproject.toml" ]]; then
      echo "$dir/.venv/bin/clickguard"
      return
    fi
    dir=$(dirname "$dir")
  done
  command -v clickguard || true
}

clickguard=$(find_clickguard)
if [[ -z "$clickguard" ]]; then
  echo "run.sh: no clickguard found: run 'make setup' in the clickguard checkout, or put clickguard on PATH" >&2
  exit 2
fi
mkdir -p log_output
exec "$clickguard" network --batch log_input/batch_log.json --stream log_input/stream_log.json \
  --out log_output/flagged_purchases.json
