#!/usr/bin/env bash
# The tests that look at a transfer while it runs (marked watches_transfer), RUNS times in a row
# (20 by default) while two busy loops keep both CPUs loaded: each run must pass. `make races` runs it.
set -u
cd "$(dirname "$0")/.."
runs=${RUNS:-20}
logs=$(mktemp -d)
burners=()
for _ in 1 2; do python3 -c "while True: pass" & burners+=($!); done
trap 'kill "${burners[@]}" 2>/dev/null' EXIT
passed=0
for i in $(seq 1 "$runs"); do
  if tests/lab/lab run -- python -m pytest -q -p no:cacheprovider -m watches_transfer tests/integration > "$logs/run-$i.log" 2>&1; then
    passed=$((passed + 1))
  fi
  echo "run $i: $(tail -1 "$logs/run-$i.log")"
done
echo "passed $passed of $runs (logs in $logs)"
[ "$passed" -eq "$runs" ]
