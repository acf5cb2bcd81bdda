"""What the tests and the benchmarks run against: the real services (``services``: the Kafka
broker, the embedded PostgreSQL, worker processes) and fake provider servers that speak each
real API's wire format (``fakes``). Not part of the installed package."""
