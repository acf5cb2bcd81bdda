"""``linguaflow replay``: re-read topics (or Postgres) for backfill, in replay groups of their own."""
