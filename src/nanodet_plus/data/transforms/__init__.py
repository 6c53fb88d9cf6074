"""data/transforms."""
