"""Scenarios: printable steps run on a trial (a topic, job, checkpoint and history of its own, in the
stack's one keyspace), the catalogue sized by profile, and the mutation suite of wrong pipelines the
scenarios must kill."""
