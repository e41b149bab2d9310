"""The built-in compliance frameworks, one YAML file each; loaded by apps.reports.frameworks_data."""
