"""Tally's pipeline: Kafka pageview events counted per site and event-time window, exactly once, into Cassandra."""
