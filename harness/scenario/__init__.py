"""Scenarios: printable steps run on a trial (a topic, keyspace, checkpoint and history of its own),
the catalogue sized by profile, and the mutation suite of wrong pipelines the scenarios must kill."""
