"""Every operator of the drill slice, importable from one place (the DAG files import from the modules).

restore: DrillPreflightOperator, DrillRestoreOperator, RdsInstanceWaitOperator,
DrillVerifyOperator, DrillTeardownOperator; report: DrillReportOperator; manual:
ManualRestorePlanOperator, CopyBackOperator; sweeper: DrillOrphanSweeperOperator.
"""

from backstop.drills.manual import CopyBackOperator, ManualRestorePlanOperator
from backstop.drills.report import DrillReportOperator
from backstop.drills.restore import (
    DrillPreflightOperator,
    DrillRestoreOperator,
    DrillTeardownOperator,
    DrillVerifyOperator,
    RdsInstanceWaitOperator,
)
from backstop.drills.sweeper import DrillOrphanSweeperOperator

__all__ = [
    "CopyBackOperator",
    "DrillOrphanSweeperOperator",
    "DrillPreflightOperator",
    "DrillReportOperator",
    "DrillRestoreOperator",
    "DrillTeardownOperator",
    "DrillVerifyOperator",
    "ManualRestorePlanOperator",
    "RdsInstanceWaitOperator",
]
