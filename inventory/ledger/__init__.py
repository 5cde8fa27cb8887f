"""The ledger: the one way stock changes, and the proof that it holds.

- `post_movements` (posting.py) posts every change of quantity: facts and promises;
  `posting_time` is when a service's change happened (now, or a past time it is given);
- `lock_levels` (locks.py) locks levels in the one order every writer uses, for a service
  that must read them under their lock before deciding what to post;
- `ledger_drifts` (verification.py) recomputes every level from its movements (in full,
  or incrementally from the closed months' checkpoint: `ledger_months_close`,
  `ledger_months_recheck`);
- partitions.py keeps the tables partitioned by month on PostgreSQL.
"""

from inventory.ledger.locks import LevelKey, lock_levels
from inventory.ledger.posting import Movement, NotAvailable, post_movements, posting_time
from inventory.ledger.verification import (
    Drift,
    MonthMismatch,
    ledger_drifts,
    ledger_months_close,
    ledger_months_recheck,
    report_drifts,
)

__all__ = ["Drift", "LevelKey", "MonthMismatch", "Movement", "NotAvailable", "ledger_drifts",
           "ledger_months_close", "ledger_months_recheck", "lock_levels", "post_movements", "posting_time",
           "report_drifts"]
