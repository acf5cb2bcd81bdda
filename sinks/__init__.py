"""The Postgres sink: a pure per-partition batch, an asyncpg COPY+upsert writer, and a runner that
commits Kafka offsets only after the database transaction has committed."""
