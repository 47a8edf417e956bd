"""Topic creation and end offsets: what the harness needs to know about Kafka, through confluent-kafka."""

from __future__ import annotations

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def create_topic(bootstrap_servers: str, topic: str, partitions: int, replication: int = 1) -> None:
    """`replication`: copies of each record; the brokers' `min.insync.replicas` applies to it."""
    admin = AdminClient({"bootstrap.servers": bootstrap_servers})
    new = NewTopic(topic, num_partitions=partitions, replication_factor=replication)
    futures = admin.create_topics([new])
    futures[topic].result(timeout=60)


def end_offsets(bootstrap_servers: str, topic: str) -> dict[int, int]:
    """Per partition, the offset the next record will get (log end offset)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap_servers,
            "group.id": "tally-harness-probe",
            "enable.auto.commit": False,
        }
    )
    try:
        metadata = consumer.list_topics(topic, timeout=30)
        partitions = sorted(metadata.topics[topic].partitions)
        return {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1] for p in partitions
        }
    finally:
        consumer.close()


def broker_answers(bootstrap_servers: str) -> bool:
    metadata = AdminClient({"bootstrap.servers": bootstrap_servers}).list_topics(timeout=5)
    return bool(metadata.brokers)
