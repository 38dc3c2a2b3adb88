"""`make demo` (`python -m include.local.demo`): every pipeline against the local stack, in one process.

harness.py runs the scenarios (scenario.py says what one is; rds.py, drills.py and tfstate.py
hold them) with Airflow in-process (runner.py). Nothing here is imported by the library or by
tests outside tests/local.
"""
