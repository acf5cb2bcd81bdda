"""Local infrastructure for development, demos and tests: the Kafka broker (jars from Maven
Central, started by ops/kafka/kafka.sh) and the embedded PostgreSQL server."""
