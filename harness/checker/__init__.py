"""The checker: judges what the sink holds against the history and returns a verdict with evidence
(valid / invalid / unknown), with the readers of what it judges (Cassandra's tables, Spark's offset
log). The judging itself is pure: a crashing checker is never "valid"."""
