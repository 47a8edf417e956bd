"""The benchmark (`python -m harness.bench`): the pipeline's throughput, latency and cost on the real
stack, beside Kafka's own consumer, the seed's RDD design and a plain Python consumer, in one run."""
