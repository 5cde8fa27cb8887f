"""The finance approval inbox's sections from apps that sit above inventory.

The inbox screen lives with adjustments (inventory), but other apps hold things finance
approves too (refunds of returns). Such an app registers a section when it starts
(`AppConfig.ready`): a function of the request that returns the section's template and
context, or None when the person may not see it. The inbox renders every registered
section after its own, so inventory needs to know nothing of those apps.
"""

from collections.abc import Callable

Section = Callable[[object], dict | None]
_SECTIONS: list[Section] = []


def register(section: Section) -> None:
    if section not in _SECTIONS:
        _SECTIONS.append(section)


def sections_for(request) -> list[dict]:
    """[{"template", "context"}] of each registered section the person may see."""
    return [shown for shown in (section(request) for section in _SECTIONS) if shown is not None]
