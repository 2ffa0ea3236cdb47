# The README's two commands: `make demo` (the main job on the lab) and `make test` (everything).
SHELL := /bin/bash
VENV := $(CURDIR)/.venv
LAB := tests/lab/lab
export PATH := $(VENV)/bin:$(PATH)
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/.build/collections
export ANSIBLE_CONFIG := $(CURDIR)/tests/ansible.cfg

.PHONY: demo test deps sanity lint units integration fuzz faults races bench lab-up lab-down
SCENARIOS ?= 500
FIRST_SEED ?= 1

demo: deps
	$(LAB) run -- ansible-playbook playbooks/demo.yml

# Sanity, lint and the lab's Go stage side by side, then units beside integration; ends with a table of
# stage times and the slowest tests (tests/suite.py).
test: deps
	python tests/suite.py

deps:
	tests/bootstrap.sh

sanity: deps
	tests/sanity/run.sh

lint: deps
	ansible-lint roles playbooks

units: deps
	$(LAB) gotest
	python -m pytest -q tests/unit

# A passing test's temporary files go at once: the suite's disks and repositories would fill a small disk.
PYTEST := python -m pytest -q -o tmp_path_retention_policy=failed

integration: deps
	$(LAB) run -- $(PYTEST) tests/integration

# The fault matrix alone (make test runs it too).
faults: deps
	$(LAB) run -- $(PYTEST) tests/integration/test_fault_matrix.py

# The randomized restore check, as many scenarios as asked (make test runs 24 of them).
fuzz: deps
	$(LAB) run -- env RESTORE_MODEL_SCENARIOS=$(SCENARIOS) RESTORE_MODEL_FIRST_SEED=$(FIRST_SEED) \
		$(PYTEST) tests/integration/test_restore_model.py

# The tests that watch a running transfer, 20 times under CPU load (RUNS=N for another count).
races: deps
	tests/race-check.sh

# Every benchmark once: figures into benchmarks/results/, the table and chart into docs/performance.md.
bench: deps
	$(LAB) run -- python benchmarks/run_all.py

lab-up:
	$(LAB) up

lab-down:
	$(LAB) down
