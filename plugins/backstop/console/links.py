"""Links from the console into the Airflow UI.

The console is served under the API server's root (`/backstop-console/`) and shown in an iframe,
so links are relative to it (`../dags/...`: they keep working behind a proxy that adds a base
path) and open in the top window.

The restore form: the UI of Airflow 3.3.2 (installed here) cannot pre-fill a trigger form from
a URL. Its router has no `dags/<id>/trigger` route (`dags/<id>/trigger/single?conf=...` is a 404),
and the only pre-fill it has is "Trigger again with this config" on a run's page. So the
console links to the DAG's page (its Trigger button opens the form) and shows the exact
configuration JSON to paste into the form's "Advanced options → Configuration JSON".
Later Airflow versions read `?conf=` on `dags/<id>/trigger/single` (apache/airflow#59231);
`trigger_form` is the one place to switch to it.
"""

from __future__ import annotations

import json
from urllib.parse import quote

UI_ROOT = "../"


def trigger_form(dag_id: str) -> str:
    return f"{UI_ROOT}dags/{quote(dag_id)}"


def form_conf(conf: dict) -> str:
    """The configuration JSON the form accepts, as the console shows it for pasting."""
    return json.dumps(conf, indent=None, separators=(", ", ": "))


def dag_run(dag_id: str, run_id: str) -> str:
    return f"{UI_ROOT}dags/{quote(dag_id)}/runs/{quote(run_id, safe='')}"


def required_actions() -> str:
    return f"{UI_ROOT}required_actions"
