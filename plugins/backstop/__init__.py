"""Backstop: backup and disaster-recovery pipelines for AWS, on Airflow 3.

Airflow puts plugins/ on sys.path, so this package imports as `backstop` (plugins/.airflowignore
keeps the plugin manager from importing its modules a second time). Vertical slices on thin
per-service adapters: policy/ (the typed policy and the views DAG files need), naming (every
name and tag), aws/ (hooks and per-service calls), airflow/ (operator base, triggers, Slack
notifier, DAG defaults), snapshots/, retention/, drills/, tfstate/ (one slice each: pure logic
and its operators), reports (evidence written to the report bucket).
"""
