"""The client side of a failover drill: a query on a fresh connection every interval, in a thread.

Each probe opens a new connection (what an application's reconnect logic does after its pool
lost the old ones), runs the policy's SQL read-only and closes it; the connect timeout is
short so a dead endpoint costs one interval, not fifteen seconds. Samples are what the verdict
turns into the downtime a user saw. Errors are kept without the password.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Any

from backstop.resilience.verdict import ProbeSample


class Probe:
    def __init__(self, target: Any, creds: Any, sql: str, interval: float) -> None:
        self.target = target
        self.creds = creds
        self.sql = sql
        self.interval = max(0.2, float(interval))
        self.samples: list[ProbeSample] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def once(self) -> ProbeSample:
        import psycopg

        at = datetime.now(UTC)
        try:
            with psycopg.connect(
                host=self.target.host,
                port=self.target.port,
                dbname=self.target.database,
                user=self.creds.username,
                password=self.creds.password,
                connect_timeout=max(1, int(self.interval * 2)),
                application_name="backstop-failover-probe",
                options="-c default_transaction_read_only=on -c statement_timeout=5000",
                autocommit=True,
            ) as conn:
                conn.execute(self.sql).fetchone()
            sample = ProbeSample(at, True)
        except Exception as exc:
            text = str(exc).replace(self.creds.password, "***").strip().splitlines()
            sample = ProbeSample(at, False, (text[0] if text else type(exc).__name__)[:300])
        self.samples.append(sample)
        return sample

    def _loop(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            self.once()
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))

    def start(self) -> Probe:
        self._thread = threading.Thread(target=self._loop, name="backstop-failover-probe", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> list[ProbeSample]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.interval * 3 + 10)
        return list(self.samples)

    def recovered(self) -> bool:
        """True once the newest sample succeeded (a failure before it, or none at all)."""
        return bool(self.samples) and self.samples[-1].ok
