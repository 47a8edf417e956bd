"""Every query progress as one JSON line in a file: what the harness waits on and reports, and what an
operator tails to see each batch's offsets, watermark and durations."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from pyspark.java_gateway import ensure_callback_server_started
from pyspark.sql import SparkSession

from pipeline.checkpoint import java_class


class ProgressLog:
    """A listener on Spark's own (Java) listener interface, called back through py4j.

    Not a PySpark `StreamingQueryListener`: PySpark first turns each event into Python objects,
    reading each Java map of a progress until py4j's iterator throws at its end, and its error
    handler then tests every such exception against fourteen exception classes, each test a class
    lookup that misses in all of Spark's jars under each of PySpark's imports. Measured at 10,000
    events/s, that conversion was a quarter of the driver JVM's CPU samples. This listener asks
    Spark for the progress's JSON: one call."""

    def __init__(self, path: str) -> None:
        self._path = Path(path)
        self._path.parent.mkdir(parents=True, exist_ok=True)

    def register(self, spark: SparkSession) -> None:
        """Listen to every query of `spark`; call it before the query starts, to miss no batch."""
        gateway = spark.sparkContext._gateway
        assert gateway is not None
        ensure_callback_server_started(gateway)
        wrapper = java_class(spark, "org.apache.spark.sql.streaming.PythonStreamingQueryListenerWrapper")
        spark.streams._jsqm.addListener(wrapper(self))

    def onQueryProgress(self, event: Any) -> None:
        line = event.progress().json()
        with self._path.open("a") as log:
            log.write(f"{line}\n")

    def onQueryStarted(self, event: Any) -> None:
        pass

    def onQueryIdle(self, event: Any) -> None:
        pass

    def onQueryTerminated(self, event: Any) -> None:
        pass

    class Java:
        implements: ClassVar[list[str]] = ["org.apache.spark.sql.streaming.PythonStreamingQueryListener"]
