# Backstop on the official Airflow image: the project's runtime requirements, pinned by its lock.
#
#   docker build -t backstop-airflow:local .        (docker compose build does the same)
#
# The -python3.11 variant of apache/airflow:3.3.2, because requirements-lock.txt is resolved
# for Python 3.11 (`make lock`). Only requirements.txt is installed (no moto, pytest or the
# embedded PostgreSQL); the lock is a constraints file, so every package, Airflow's own
# dependencies included, gets exactly the version the tests ran with.
# tests/deploy/test_image_requirements.py proves that requirements.txt resolves inside the lock.
ARG AIRFLOW_IMAGE=apache/airflow:3.3.2-python3.11
FROM ${AIRFLOW_IMAGE}

COPY --chown=airflow:root requirements.txt requirements-lock.txt /opt/backstop/
RUN pip install --no-cache-dir "apache-airflow==3.3.2" \
        -r /opt/backstop/requirements.txt -c /opt/backstop/requirements-lock.txt

COPY --chown=airflow:root dags/ /opt/airflow/dags/
COPY --chown=airflow:root plugins/ /opt/airflow/plugins/
COPY --chown=airflow:root include/ /opt/airflow/include/
COPY --chown=airflow:root airflow_settings.yaml /opt/airflow/airflow_settings.yaml

ENV PYTHONPATH=/opt/airflow/plugins:/opt/airflow \
    BACKSTOP_POLICY_FILE=/opt/airflow/include/backup_policy.yaml
