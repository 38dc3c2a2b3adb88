"""Airflow plugin: the Backstop DR console, a page in the Airflow UI (nav: "DR console").

An external view (`url_route` = shown inside the Airflow UI) of a FastAPI app that Airflow's API
server mounts at /backstop-console. The code lives in plugins/backstop/console/; this file only
registers it (it must sit at the plugins folder's root for the plugin manager to find it, and
its name must not start with `backstop`, which plugins/.airflowignore and its test reserve for
the library).
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from backstop.console.app import URL_PREFIX, app


class BackstopConsolePlugin(AirflowPlugin):
    name = "backstop_dr_console"
    fastapi_apps = [{"app": app, "url_prefix": URL_PREFIX, "name": "Backstop DR console"}]
    external_views = [
        {
            "name": "DR console",
            "href": URL_PREFIX.lstrip("/") + "/",
            "destination": "nav",
            "url_route": "dr-console",
        }
    ]
