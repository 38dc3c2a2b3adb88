"""`python -m include.local.demo` (`make demo`)."""

import os
import sys

from include.local.demo.harness import main

code = main()
# Everything is stopped, flushed and closed by now. Skip the interpreter's teardown of the
# Airflow module graph (about 3 s of garbage collection with nothing left to clean up).
sys.stdout.flush()
sys.stderr.flush()
os._exit(code)
