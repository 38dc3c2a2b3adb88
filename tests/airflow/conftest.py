"""Every test here starts and ends with no shared AWS client, so botocore handlers a test registers
on a trigger's (process-wide) client never reach another test."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _no_shared_clients():
    from backstop.aws.hooks import clear_shared_hooks

    clear_shared_hooks()
    yield
    clear_shared_hooks()
