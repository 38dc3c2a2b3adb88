"""The DR console: one page in the Airflow UI answering the DR team's questions.

`gather` collects what Backstop already wrote (reports in S3, the freshness evidence, Airflow's
own records of manual restores and approvals) plus live RDS describes through the policy's
Airflow connection; `render` turns that into one HTML page (inline CSS and SVG, no scripts from
elsewhere); `app` serves it behind the Airflow login. The plugin entry is plugins/backstop_console.py.
"""
