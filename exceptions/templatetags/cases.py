"""Small display helpers for the case screens."""

import json
from datetime import datetime

from django import template
from django.utils import timezone

register = template.Library()


@register.filter
def compact_age(moment: datetime | None) -> str:
    """How long ago (or, for a future moment, how long until): "45m", "5h", "3d"."""
    if moment is None:
        return ""
    seconds = abs((timezone.now() - moment).total_seconds())
    if seconds < 3600:
        return f"{max(1, int(seconds // 60))}m"
    if seconds < 2 * 86400:
        return f"{int(seconds // 3600)}h"
    return f"{int(seconds // 86400)}d"


@register.filter
def pretty_json(value) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str)


@register.filter
def factor(factors: dict, name: str) -> str:
    return (factors or {}).get(name, "—")


@register.filter
def words(code: str) -> str:
    """A code as words: "share_percent" is "Share percent"."""
    return str(code).replace("_", " ").capitalize()
