"""Checks on a restored database: credentials, connection, each policy DataCheck with psycopg.

Credentials come from Secrets Manager (a JSON secret with `username` and `password`, the
RDS master secret format) or from an Airflow connection, read inside the task. The password
is masked with Airflow's secret masker as soon as it is read, and is never logged, put in
XCom, in a report or in an error message.

Each check runs its SQL in a read-only session and compares the single value it returns
with the expectation: `min_rows` (value >= n), `equals` (value == x) or `max_age` (the value
is a timestamp no older than this at the restore point). The freshness check's timestamp is
the newest committed row, from which the drill computes its RPO.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from backstop.drills.dataplane import PgTarget
from backstop.policy.drill_views import CheckSpec

STATEMENT_TIMEOUT_MS = 300_000
CONNECT_TIMEOUT_S = 15


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str

    def __repr__(self) -> str:  # never show the password, even in a traceback's locals
        return f"Credentials(username={self.username!r}, password='***')"


@dataclass
class CheckResult:
    name: str
    sql: str
    expectation: str
    observed: Any
    passed: bool
    message: str
    seconds: float
    freshness: bool = False
    newest: str | None = None  # ISO timestamp seen by the freshness check

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _mask(value: str) -> None:
    try:
        from airflow.sdk.log import mask_secret

        mask_secret(value)
    except Exception:  # outside a task (unit tests): nothing to register with
        pass


def credentials_from_secret(
    secret_id: str, *, aws_conn_id: str | None, region_name: str | None
) -> Credentials:
    """username/password of a Secrets Manager JSON secret (the RDS master secret format)."""
    from airflow.providers.amazon.aws.hooks.secrets_manager import SecretsManagerHook

    hook = SecretsManagerHook(aws_conn_id=aws_conn_id, region_name=region_name)
    raw = hook.conn.get_secret_value(SecretId=secret_id)["SecretString"]
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ValueError(f"secret {secret_id!r} is not a JSON object with username/password") from exc
    password = data.get("password")
    if not password or not data.get("username"):
        raise ValueError(f"secret {secret_id!r} lacks username or password")
    _mask(password)
    return Credentials(str(data["username"]), str(password))


def credentials(
    *, secret_id: str | None, conn_id: str | None, aws_conn_id: str | None, region_name: str | None
) -> Credentials:
    """From the Airflow connection when one is named, else from the Secrets Manager secret."""
    if conn_id:
        return credentials_from_connection(conn_id)
    return credentials_from_secret(secret_id, aws_conn_id=aws_conn_id, region_name=region_name)


def credentials_from_connection(conn_id: str) -> Credentials:
    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection(conn_id)
    if not conn.login or not conn.password:
        raise ValueError(f"Airflow connection {conn_id!r} needs a login and a password")
    _mask(conn.password)
    return Credentials(conn.login, conn.password)


def connect(target: PgTarget, creds: Credentials, *, read_only: bool = True) -> Any:
    """A psycopg connection; errors are re-raised without the password in them."""
    import psycopg

    options = f"-c statement_timeout={STATEMENT_TIMEOUT_MS}"
    if read_only:
        options += " -c default_transaction_read_only=on"
    try:
        return psycopg.connect(
            host=target.host,
            port=target.port,
            dbname=target.database,
            user=creds.username,
            password=creds.password,
            connect_timeout=CONNECT_TIMEOUT_S,
            application_name="backstop-verify",
            options=options,
            autocommit=True,
        )
    except psycopg.Error as exc:
        text = str(exc).replace(creds.password, "***")
        raise ConnectionError(
            f"cannot connect to {target.describe()} as {creds.username}: {text.strip()}"
        ) from None


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def expectation_text(check: CheckSpec) -> str:
    if check.min_rows is not None:
        return f">= {check.min_rows}"
    if check.equals is not None:
        return f"== {check.equals!r}"
    return f"newest value no older than {check.max_age_seconds:.0f}s at the restore point"


def _equals(observed: Any, expected: Any) -> bool:
    if isinstance(expected, bool):
        return observed is expected or str(observed).lower() == str(expected).lower()
    if isinstance(expected, int | float) and not isinstance(observed, bool):
        try:
            return float(observed) == float(expected)
        except (TypeError, ValueError):
            return False
    return str(observed) == str(expected)


def evaluate(check: CheckSpec, value: Any, reference: datetime) -> tuple[bool, str, str | None]:
    """(passed, message, newest-iso) for one value against the check's expectation. Pure."""
    if check.min_rows is not None:
        try:
            count = int(value)
        except (TypeError, ValueError):
            return False, f"expected a number, got {value!r}", None
        if count >= check.min_rows:
            return True, f"{count} >= {check.min_rows}", None
        return False, f"observed {count}, expected at least {check.min_rows}", None
    if check.equals is not None:
        if _equals(value, check.equals):
            return True, f"equals {check.equals!r}", None
        return False, f"observed {_json_value(value)!r}, expected {check.equals!r}", None
    # max_age
    if not isinstance(value, datetime):
        return False, f"expected a timestamp, got {_json_value(value)!r} (empty table?)", None
    newest = value if value.tzinfo else value.replace(tzinfo=UTC)
    age = (reference - newest).total_seconds()
    limit = check.max_age_seconds
    if age <= limit:
        return (
            True,
            f"newest {newest.isoformat()} is {max(age, 0):.0f}s before the restore point",
            newest.isoformat(),
        )
    return (
        False,
        f"newest {newest.isoformat()} is {age:.0f}s before the restore point, more than {limit:.0f}s",
        newest.isoformat(),
    )


def run_check(conn: Any, check: CheckSpec, reference: datetime) -> CheckResult:
    """One check in its own READ ONLY transaction, always rolled back.

    The session's read-only default is not enough: a check could turn it off
    (`set_config('default_transaction_read_only', 'off', false)`) for the checks after it. Each
    transaction here is declared READ ONLY itself, with its own statement timeout, and is rolled
    back whatever the query did.
    """
    started = time.monotonic()
    try:
        with conn.transaction(force_rollback=True):
            conn.execute("SET TRANSACTION READ ONLY")
            conn.execute(f"SET LOCAL statement_timeout = {STATEMENT_TIMEOUT_MS}")
            row = conn.execute(check.sql).fetchone()
        value = row[0] if row else None
        passed, message, newest = evaluate(check, value, reference)
        observed = _json_value(value)
    except Exception as exc:  # a broken query is a failed check, with the database's reason
        passed, message, newest, observed = (
            False,
            f"query failed: {type(exc).__name__}: {exc}".strip(),
            None,
            None,
        )
    return CheckResult(
        name=check.name,
        sql=check.sql,
        expectation=expectation_text(check),
        observed=observed,
        passed=passed,
        message=message,
        seconds=round(time.monotonic() - started, 3),
        freshness=check.freshness,
        newest=newest,
    )


def run_checks(
    target: PgTarget, creds: Credentials, checks: Sequence[CheckSpec], reference: datetime, log: Any = None
) -> list[CheckResult]:
    """Run every check (all of them, even after a failure) in one read-only session."""
    results = []
    with connect(target, creds) as conn:
        for check in checks:
            result = run_check(conn, check, reference)
            if log is not None:
                log.info(
                    "check %-24s %s observed=%r expected %s (%s)",
                    result.name,
                    "PASS" if result.passed else "FAIL",
                    result.observed,
                    result.expectation,
                    result.message,
                )
            results.append(result)
    return results
