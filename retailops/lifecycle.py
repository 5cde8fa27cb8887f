"""Lifecycles: the one check that a status may move to another.

Each app keeps its statuses and its `TRANSITIONS` table in its own `states.py`; the move
itself is checked here, so every app refuses an illegal move the same way: `InvalidState`
(409 `invalid_state`) naming the current status.
"""

from retailops.errors import InvalidState


def check_transition(table: dict[str, set[str]], current: str, target: str, *, noun: str) -> None:
    """Refuse a move the table does not list."""
    if target not in table.get(current, set()):
        raise InvalidState(f"The {noun} is {current}; it cannot become {target}.", current_status=current)
