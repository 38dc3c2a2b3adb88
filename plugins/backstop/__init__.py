"""Backstop: backup and disaster-recovery pipelines for AWS, on Airflow 3.

Airflow puts plugins/ on sys.path, so this package imports as `backstop`. The modules:
policy (the typed policy), naming (names and tags), aws/ (shared AWS calls), operators/,
triggers/, notify/ (Slack), dag_defaults (what every DAG shares).
"""
