"""Demo data for the console: realistic events with attack stories, a demo admin and token."""
from apps.demo.generator.seed import SeedResult, demo_seed

__all__ = ["SeedResult", "demo_seed"]
