"""The app's settings with one more URL: the ceiling view of `bench/reservations.py`
(`_ceiling_urls`). Used only by the benchmark's second server; nothing else changes."""

from retailops.settings import *  # noqa: F403 (the app's settings, as they are)

ROOT_URLCONF = "_ceiling_urls"
