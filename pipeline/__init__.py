"""Tally's pipeline: pageviews from Kafka, counted per site and event-time window exactly once."""
