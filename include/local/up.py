"""`make up`: `airflow standalone` on http://localhost:8080 against the local stack.

Starts (or reuses) the local stack in the background with the seed fleet, loads
airflow_settings.yaml (connections as environment variables, pools via the CLI), migrates
the metadata DB in .local/airflow and replaces this process with `airflow standalone`.
Stop Airflow with Ctrl-C; stop the stack with `make down`. The UI login is printed by
standalone (user `admin`, password in .local/airflow/simple_auth_manager_passwords.json.generated).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from include.local import settings as local_settings
from include.local.stack import LocalStack

ROOT = local_settings.REPO_ROOT


def main() -> int:
    try:
        stack = LocalStack.attach()
        healthy = all(stack.health().values())
    except Exception:  # no state file, or a stale one
        healthy = False
    if healthy:
        print(f"Reusing the local stack: AWS {stack.aws_endpoint_url}, Slack {stack.slack_base_url}")
    else:
        stack = LocalStack(seed=True, detach=True)
        stack.start()
        print(f"Started the local stack: AWS {stack.aws_endpoint_url}, Slack {stack.slack_base_url}")
    home = Path(os.environ.get("AIRFLOW_HOME", ROOT / ".local" / "airflow"))
    env = local_settings.airflow_env(stack.env(), home)
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], env=env, check=True, stdout=subprocess.DEVNULL
    )
    for argv in local_settings.pool_commands(local_settings.load_settings(environ=env)):
        subprocess.run(
            [sys.executable, "-m", "airflow", *argv[1:]], env=env, check=True, stdout=subprocess.DEVNULL
        )
    print(
        "Starting airflow standalone on http://localhost:8080 (Ctrl-C to stop; `make down` stops the stack)"
    )
    os.execvpe(sys.executable, [sys.executable, "-m", "airflow", "standalone"], env)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
