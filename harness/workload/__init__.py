"""The client: seeded workloads of pageviews and malformed records, and the Kafka producer that sends
them (plain or in transactions) and records each send in the history."""
