#!/usr/bin/env bash
# The tests that look at a transfer while it runs, RUNS times in a row (20 by default) while two
# busy loops keep both CPUs loaded: each run must pass. `make races` runs it.
set -u
cd "$(dirname "$0")/.."
runs=${RUNS:-20}
logs=$(mktemp -d)
burners=()
for _ in 1 2; do python3 -c "while True: pass" & burners+=($!); done
trap 'kill "${burners[@]}" 2>/dev/null' EXIT
passed=0
for i in $(seq 1 "$runs"); do
  if tests/lab/lab run -- python -m pytest -q -p no:cacheprovider \
      tests/integration/test_data_mover.py \
      tests/integration/test_client_layer.py::test_keepalive_pings_while_idle \
      tests/integration/test_roles.py::test_full_restore_shows_progress_while_the_disks_are_written \
      tests/integration/test_vmdk_restore.py::test_storage_vmotion_is_disabled_while_the_restore_holds_the_disks \
      tests/integration/test_lab_vddk_double.py::test_injected_faults > "$logs/run-$i.log" 2>&1; then
    passed=$((passed + 1))
  fi
  echo "run $i: $(tail -1 "$logs/run-$i.log")"
done
echo "passed $passed of $runs (logs in $logs)"
[ "$passed" -eq "$runs" ]
