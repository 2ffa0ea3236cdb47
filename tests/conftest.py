"""What the unit and integration suites share."""


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes tens of seconds or minutes; make test runs it, pytest -m 'not slow' "
                                       "leaves it out")
    config.addinivalue_line("markers", "watches_transfer: looks at a transfer while it runs (held in the VDDK double); "
                                       "make races runs these under CPU load")
    config.addinivalue_line("markers", "after_all_other_tests: checks what the other tests recorded, so runs last")
