"""The ledger: the one way stock changes, and the proof that it holds.

- `post_movements` (posting.py) posts every change of quantity: facts and promises;
  `posting_time` is when a service's change happened (now, or a past time it is given);
- `lock_levels` (locks.py) locks levels in the one order every writer uses, for a service
  that must read them under their lock before deciding what to post;
- `ledger_drifts` (verification.py) recomputes every level from its movements.
"""

from inventory.ledger.locks import LevelKey, lock_levels
from inventory.ledger.posting import FUTURE_TOLERANCE, Movement, NotAvailable, post_movements, posting_time
from inventory.ledger.verification import Drift, ledger_drifts, report_drifts

__all__ = ["FUTURE_TOLERANCE", "Drift", "LevelKey", "Movement", "NotAvailable", "ledger_drifts", "lock_levels",
           "post_movements", "posting_time", "report_drifts"]
