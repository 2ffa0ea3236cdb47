"""The randomized restore check (restore_model.py), a bounded number of scenarios in `make test`;
`make fuzz SCENARIOS=N` runs as many as asked. A failure names its seed: replay it with
`tests/lab/lab run -- python tests/integration/restore_model.py SEED`."""
import os

import pytest

from restore_model import run_scenario

SCENARIOS = int(os.environ.get("RESTORE_MODEL_SCENARIOS", "24"))
FIRST_SEED = int(os.environ.get("RESTORE_MODEL_FIRST_SEED", "1"))


@pytest.mark.parametrize("seed", range(FIRST_SEED, FIRST_SEED + SCENARIOS))
def test_every_restore_matches_the_reference_model(seed, lab, si, tmp_path):
    run_scenario(seed, lab, si, str(tmp_path))
