"""Sigma rules as alert rules: a pySigma backend of ours that writes the console's query
language (backend.py), a processing pipeline mapping each log source's fields onto the event
schema as the importers map them (pipeline.py), and the import (convert.py)."""
