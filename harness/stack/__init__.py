"""The real stack: versions, locally built images, the containers of Kafka, Cassandra, Spark and
Toxiproxy with their waits and connection info, and the pipeline's drivers."""
