"""Benchmarks: linguaflow measured as ratios against raw Kafka and Postgres baselines taken in
the same run (``python -m bench run [--quick] [--tiny]``)."""
