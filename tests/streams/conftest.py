"""The streams tests' fixtures, defined with their helpers in tests/streams/support.py."""
from tests.streams.support import *  # noqa: F401,F403 (pytest finds the fixtures here)
