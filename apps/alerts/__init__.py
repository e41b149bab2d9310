"""Alerts: detection rules over the log, the alerts they raise, and their notification."""
