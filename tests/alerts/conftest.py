"""The alerts tests' fixtures, defined with their helpers in tests/alerts/support.py."""
from tests.alerts.support import *  # noqa: F401,F403 (pytest finds the fixtures here)
