"""The ceiling: Kafka's own consumer performance tool on the benchmark's topic, inside the broker's
container. The broker image does not ship kafka-tools, so its jar is resolved from Maven Central
once (cached) and copied into the running container."""

from __future__ import annotations

import io
import tarfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import docker

from harness.stack.images.maven import resolve_jars

CACHE = Path.home() / ".cache" / "tally" / "bench"
IN_CONTAINER = "/tmp/kafka-tools"
TOOL = "org.apache.kafka.tools.ConsumerPerformance"


@dataclass(frozen=True)
class ConsumerPerf:
    """What ConsumerPerformance printed, plus the wall time of the whole exec (JVM start included)."""

    records: int
    megabytes: float
    seconds: float  # the tool's own elapsed time, group join included
    fetch_seconds: float  # elapsed minus the group join
    rate: float  # records/s over `seconds`
    fetch_rate: float  # records/s over `fetch_seconds`: the ceiling
    mb_per_s: float
    wall_seconds: float


def parse_output(text: str) -> ConsumerPerf:
    """Parse the tool's CSV header + values lines (pure; `wall_seconds` is left 0)."""
    lines = [line.strip() for line in text.splitlines() if line.count(",") >= 9]
    header = next((i for i, line in enumerate(lines) if line.startswith("start.time")), None)
    if header is None or header + 1 >= len(lines):
        raise ValueError(f"no ConsumerPerformance result in:\n{text[-2000:]}")
    names = [n.strip() for n in lines[header].split(",")]
    values = dict(zip(names, (v.strip() for v in lines[header + 1].split(",")), strict=False))
    records = int(float(values["data.consumed.in.nMsg"]))
    megabytes = float(values["data.consumed.in.MB"])
    rate = float(values["nMsg.sec"])
    fetch_ms = float(values["fetch.time.ms"])
    rebalance_ms = float(values.get("rebalance.time.ms", 0))
    return ConsumerPerf(
        records=records,
        megabytes=megabytes,
        seconds=round((fetch_ms + rebalance_ms) / 1000, 3),
        fetch_seconds=round(fetch_ms / 1000, 3),
        rate=rate,
        fetch_rate=float(values["fetch.nMsg.sec"]),
        mb_per_s=float(values["fetch.MB.sec"]),
        wall_seconds=0.0,
    )


def tools_jar(kafka_version: str) -> Path:
    directory = CACHE / f"kafka-tools-{kafka_version}"
    jar = directory / f"kafka-tools-{kafka_version}.jar"
    if not jar.exists():
        resolve_jars([f"org.apache.kafka:kafka-tools:{kafka_version}"], directory)
    return jar


def consumer_perf(
    kafka_container: str, kafka_version: str, bootstrap: str, topic: str, records: int
) -> ConsumerPerf:
    container = docker.from_env().containers.get(kafka_container)
    jar = tools_jar(kafka_version)
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        tar.add(jar, arcname=jar.name)
    container.exec_run(["mkdir", "-p", IN_CONTAINER])
    container.put_archive(IN_CONTAINER, archive.getvalue())
    command = [
        "java",
        "-Xmx512m",
        "-cp",
        f"/opt/kafka/libs/*:{IN_CONTAINER}/*",
        TOOL,
        "--bootstrap-server",
        bootstrap,
        "--topic",
        topic,
        "--messages",
        str(records),
        "--timeout",
        "30000",
        "--group",
        f"bench-perf-{uuid.uuid4().hex[:8]}",
    ]
    started = time.monotonic()
    result = container.exec_run(command)
    wall = time.monotonic() - started
    text = result.output.decode(errors="replace")
    if result.exit_code != 0:
        raise RuntimeError(f"ConsumerPerformance exited {result.exit_code}:\n{text[-3000:]}")
    perf = parse_output(text)
    return ConsumerPerf(**{**perf.__dict__, "wall_seconds": round(wall, 2)})
