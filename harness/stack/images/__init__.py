"""Local images of the stack, built from Debian and Maven Central because no registry can be reached.

Each image is tagged with its component version and a hash of its build inputs, so a tag that exists
is reused and a changed version or Dockerfile builds a new one. The Spark image is then trained: a
run of it beside a Kafka broker leaves the class-data sharing archives its JVMs start from.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from harness.stack import containers
from harness.stack.images.maven import MavenError, resolve_jars
from harness.stack.versions import Versions

log = logging.getLogger("harness.images")

HERE = Path(__file__).parent
CACHE = Path.home() / ".cache" / "tally" / "images"
# Kafka 4 logs through log4j2 but does not depend on a backend; without one, nothing is logged.
LOG4J = "2.24.3"
SLF4J = "2.0.16"
SPARK_CORE = re.compile(r"spark-core_(\d+\.\d+)-.*\.jar$")
# Toxiproxy is built from its Go module (no registry serves its image); the binary is static.
TOXIPROXY = "2.12.0"
TOXIPROXY_MODULE = "github.com/Shopify/toxiproxy/v2"
GO_FALLBACK = Path("/usr/local/go/bin/go")
# The Spark image's class-data sharing archives, from its training run (spark/cds_training.py): the
# driver's, which every JVM of the image maps, and the executor's, which the harness's worker gives
# the executors it launches (services.py).
ARCHIVES = ("driver.jsa", "executor.jsa")
DRIVER_ARCHIVE, EXECUTOR_ARCHIVE = (f"/opt/cds/{archive}" for archive in ARCHIVES)
# The tag suffix of a Spark image without the archives: the one they are trained on, and the one a
# stack runs on a Spark it only moves away from (`ensure_images`).
UNTRAINED = "-untrained"


class ImageBuildError(RuntimeError):
    pass


@dataclass(frozen=True)
class Base:
    """A Debian rootfs with one Java runtime, imported as the image the service images start from."""

    suite: str
    java: int

    @property
    def packages(self) -> tuple[str, ...]:
        return (f"openjdk-{self.java}-jre-headless", "python3", "procps")

    @property
    def tag(self) -> str:
        return f"tally/base:{self.suite}-jre{self.java}-{_digest(*self.packages)}"


# Each Java from the newest Debian suite that packages it: bookworm has no Java 11.
JAVA17 = Base("bookworm", 17)
JAVA11 = Base("bullseye", 11)


def cassandra_base(version: str) -> Base:
    """The base a Cassandra version runs on. Java 17 is supported from Cassandra 5.0 on; 4.0 and 4.1
    refuse to start on it and run on Java 11 at newest; 3.x needs Java 8, which no Debian suite we
    can build from packages any more."""
    major = int(version.split(".")[0])
    if major >= 5:
        return JAVA17
    if major == 4:
        return JAVA11
    raise ImageBuildError(
        f"Cassandra {version} needs Java 8, which no Debian suite packages: use 4.0 or newer."
    )


@dataclass(frozen=True)
class Images:
    """Tags of the images one version set runs on."""

    kafka: str
    cassandra: str
    spark: str
    toxiproxy: str


def kafka_cluster_id() -> str:
    """A new KAFKA_CLUSTER_ID for the Kafka image's start script: 16 random bytes in URL-safe
    base64, never starting with "-" (the storage tool would read an option)."""
    while (cluster_id := base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")).startswith("-"):
        pass
    return cluster_id


def say(message: str) -> None:
    log.info("%s", message)


def _digest(*parts: str | bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode() if isinstance(part, str) else part)
    return h.hexdigest()[:10]


def _files_digest(directory: Path) -> str:
    return _digest(*(p.name.encode() + p.read_bytes() for p in sorted(directory.iterdir())))


def _exists(tag: str) -> bool:
    return (
        subprocess.run(["docker", "image", "inspect", tag], capture_output=True, check=False).returncode == 0
    )


def _run(cmd: list[str], what: str, **kwargs: object) -> None:
    result = subprocess.run(cmd, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-30:])
        raise ImageBuildError(f"{what} failed (exit {result.returncode}): {' '.join(cmd)}\n{tail}")


def base_image(base: Base) -> str:
    tag = base.tag
    if _exists(tag):
        return tag
    if shutil.which("debootstrap") is None:
        raise ImageBuildError("debootstrap is missing: run `apt-get install -y debootstrap` (as root).")
    started = time.monotonic()
    say(f"building {tag}: debootstrap {base.suite} with {', '.join(base.packages)} (about a minute)")
    with tempfile.TemporaryDirectory(prefix="tally-rootfs-") as rootfs:
        _run(
            ["debootstrap", "--variant=minbase", f"--include={','.join(base.packages)}", base.suite, rootfs],
            "debootstrap",
        )
        tar = subprocess.Popen(["tar", "-C", rootfs, "-c", "."], stdout=subprocess.PIPE)
        _run(["docker", "import", "-", tag], "docker import", stdin=tar.stdout)
        tar.wait()
    say(f"built {tag} in {time.monotonic() - started:.0f} s")
    return tag


def _docker_build(tag: str, context: Path, args: Mapping[str, str], dockerfile: str = "Dockerfile") -> None:
    started = time.monotonic()
    say(f"docker build {tag}")
    build_args = [option for name, value in args.items() for option in ("--build-arg", f"{name}={value}")]
    _run(
        ["docker", "build", "-q", *build_args, "-f", str(context / dockerfile), "-t", tag, str(context)],
        f"docker build {tag}",
    )
    say(f"built {tag} in {time.monotonic() - started:.0f} s")


def _context(name: str, tag: str) -> Path:
    context = CACHE / tag.replace("/", "_").replace(":", "_")
    if context.exists():
        shutil.rmtree(context)
    shutil.copytree(HERE / name, context)
    return context


def _build_java_service(name: str, version: str, coordinates: Iterable[str], base: str) -> str:
    coordinates = tuple(coordinates)
    tag = f"tally/{name}:{version}-{_digest(base, *coordinates, _files_digest(HERE / name))}"
    if _exists(tag):
        return tag
    context = _context(name, tag)
    say(f"{name} {version}: resolving {', '.join(coordinates)} from Maven Central")
    resolve_jars(coordinates, context / "jars")
    _docker_build(tag, context, {"BASE": base})
    shutil.rmtree(context)
    return tag


def kafka_image(versions: Versions, base: str) -> str:
    # Kafka's POMs declare slf4j-api 1.7 while recent brokers call the 2.x API; a direct
    # dependency on 2.x wins Maven's nearest-first mediation and still serves 1.7 callers.
    # kafka-tools holds the admin commands the broker's jars lack, kafka-features among them (the
    # metadata version an upgrade finalizes), as Kafka's own distribution ships them beside it.
    return _build_java_service(
        "kafka",
        versions.kafka,
        (
            f"org.apache.kafka:kafka_2.13:{versions.kafka}",
            f"org.apache.kafka:kafka-tools:{versions.kafka}",
            f"org.slf4j:slf4j-api:{SLF4J}",
            f"org.apache.logging.log4j:log4j-core:{LOG4J}",
            f"org.apache.logging.log4j:log4j-slf4j2-impl:{LOG4J}",
        ),
        base,
    )


def cassandra_image(versions: Versions) -> str:
    return _build_java_service(
        "cassandra",
        versions.cassandra,
        (f"org.apache.cassandra:cassandra-all:{versions.cassandra}",),
        base_image(cassandra_base(versions.cassandra)),
    )


def spark_image(versions: Versions, base: str, kafka: str, trained: bool = True) -> str:
    """The Spark image of `versions`, with its class-data sharing archives unless `trained` is False
    (then the image they are trained on, whose JVMs load every class from the jars)."""
    python = (f"pyspark=={versions.spark}", f"cassandra-driver=={versions.cassandra_driver}")
    connector_version = versions.spark_kafka_connector
    tag = (
        f"tally/spark:{versions.spark}-"
        f"{_digest(base, connector_version, *python, _files_digest(HERE / 'spark'))}"
    )
    untrained = f"{tag}{UNTRAINED}"
    if _exists(tag if trained else untrained):
        return tag if trained else untrained
    context = _context("spark", tag)
    if not _exists(untrained):
        say(f"spark {versions.spark}: pip install {' '.join(python)} (the pyspark package is SPARK_HOME)")
        _run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(context / "py"), *python],
            "pip install",
        )
        spark_jars = context / "py" / "pyspark" / "jars"
        connector = f"org.apache.spark:spark-sql-kafka-0-10_{scala_of(spark_jars)}:{connector_version}"
        say(f"spark {versions.spark}: resolving {connector} from Maven Central")
        jars = context / "connector-jars"
        try:
            resolve_jars((connector,), jars)
        except MavenError as error:
            raise ImageBuildError(
                f"{error}\nThe Kafka connector must match Spark's Scala version and, ideally, its "
                "version: choose a published one with --connector-version / TALLY_CONNECTOR (see "
                "README, Versions)."
            ) from error
        # Spark already ships some of the connector's dependencies (lz4, snappy, zstd, slf4j ...);
        # two versions of one library on a classpath is a bug waiting to happen, so keep Spark's.
        shipped = {_artifact(p.name) for p in spark_jars.glob("*.jar")}
        for jar in jars.glob("*.jar"):
            if _artifact(jar.name) in shipped:
                jar.unlink()
        _docker_build(untrained, context, {"BASE": base})
        shutil.rmtree(context / "py")
        shutil.rmtree(context / "connector-jars")
    if trained:
        _train(untrained, kafka, context)
        _docker_build(tag, context, {"UNTRAINED": untrained}, "archives.Dockerfile")
    shutil.rmtree(context)
    return tag if trained else untrained


def _train(untrained: str, kafka: str, into: Path) -> None:
    """Run the class-data sharing training in a container of `untrained`, beside a broker of `kafka`
    in the same network namespace (loopback only: nothing of the host's is reached or taken), and
    copy its archives into `into`."""
    started = time.monotonic()
    suffix = f"{os.getpid()}-{uuid.uuid4().hex[:6]}"
    broker, training = f"tally-cds-kafka-{suffix}", f"tally-cds-training-{suffix}"
    label = f"{containers.LABEL}={os.getpid()}"
    say(f"{untrained}: training run for the class-data sharing archives, beside Kafka ({kafka})")
    try:
        kafka_env = (
            "KAFKA_PORT=9092",
            "KAFKA_CONTROLLER_PORT=9093",
            f"KAFKA_CLUSTER_ID={kafka_cluster_id()}",
        )
        _run(
            ["docker", "run", "-d", "--name", broker, "--label", label, "--network", "none"]
            # A namespace without a network has no address for its host name, which Spark looks up;
            # the training's container shares this one's host name and hosts file.
            + ["--hostname", "cds-training", "--add-host", "cds-training:127.0.0.1"]
            + [option for variable in kafka_env for option in ("-e", variable)]
            + [kafka],
            "start the training's Kafka",
        )
        beside = ["--network", f"container:{broker}"]
        training_run = [untrained, "python3", "/opt/cds/cds_training.py", "127.0.0.1:9092"]
        try:
            _run(
                ["docker", "run", "--name", training, "--label", label, *beside, "--init", *training_run],
                "the class-data sharing training run",
            )
        except ImageBuildError as error:
            # The cause is often far above the last lines (a stream's failure prints its whole plan).
            logs = CACHE / f"{training}.log"
            for container in (training, broker):
                with logs.open("a") as out:
                    out.write(f"=== docker logs {container} ===\n")
                    out.flush()
                    subprocess.run(["docker", "logs", container], stdout=out, stderr=out, check=False)
            raise ImageBuildError(f"{error}\nThe training's and its Kafka's whole logs: {logs}") from error
        for archive in ARCHIVES:
            _run(["docker", "cp", f"{training}:/opt/cds/{archive}", str(into / archive)], f"copy {archive}")
    finally:
        subprocess.run(["docker", "rm", "-f", broker, training], capture_output=True, check=False)
    sizes = ", ".join(f"{a} {(into / a).stat().st_size / 2**20:.0f} MiB" for a in ARCHIVES)
    say(f"{untrained}: trained in {time.monotonic() - started:.0f} s ({sizes})")


def scala_of(spark_jars: Path) -> str:
    """The Scala binary version a Spark distribution was built for, read from its spark-core jar name.

    pyspark 4 ships Scala 2.13 only; pyspark 3.x wheels ship 2.12 (Spark 3 has 2.13 builds, not on PyPI).
    """
    found = {m.group(1) for p in spark_jars.glob("spark-core_*.jar") if (m := SPARK_CORE.match(p.name))}
    if len(found) != 1:
        raise ImageBuildError(f"expected one spark-core_<scala>-<version>.jar in {spark_jars}, found {found}")
    return found.pop()


def _artifact(jar_name: str) -> str:
    """'kafka-clients-3.9.1.jar' -> 'kafka-clients'."""
    stem = jar_name.removesuffix(".jar")
    parts = stem.split("-")
    while parts and parts[-1][:1].isdigit():
        parts.pop()
    return "-".join(parts)


def _go() -> str:
    found = shutil.which("go") or (str(GO_FALLBACK) if GO_FALLBACK.exists() else None)
    if found is None:
        raise ImageBuildError(
            "the Go toolchain is missing (Toxiproxy is built from its Go module): install Go "
            f"(e.g. to {GO_FALLBACK.parent.parent}, https://go.dev/doc/install) or put `go` on PATH."
        )
    return found


def toxiproxy_image(base: str) -> str:
    tag = f"tally/toxiproxy:{TOXIPROXY}-{_digest(base, TOXIPROXY, _files_digest(HERE / 'toxiproxy'))}"
    if _exists(tag):
        return tag
    go = _go()
    context = _context("toxiproxy", tag)
    started = time.monotonic()
    say(f"toxiproxy {TOXIPROXY}: go install {TOXIPROXY_MODULE}/cmd/server (static, through the Go proxy)")
    _run(
        [
            go,
            "install",
            "-trimpath",
            f"-ldflags=-s -w -X {TOXIPROXY_MODULE}.Version={TOXIPROXY}",
            f"{TOXIPROXY_MODULE}/cmd/server@v{TOXIPROXY}",
        ],
        "go install toxiproxy",
        cwd=context,
        env={**os.environ, "CGO_ENABLED": "0", "GOBIN": str(context)},
    )
    (context / "server").rename(context / "toxiproxy-server")
    say(f"toxiproxy {TOXIPROXY}: compiled in {time.monotonic() - started:.0f} s")
    _docker_build(tag, context, {"BASE": base})
    shutil.rmtree(context)
    return tag


def ensure_images(versions: Versions, trained: bool | None = None) -> Images:
    """Build whatever image of this version set is missing; return the tags.

    The Spark image is trained (its class-data sharing archives) when `trained` says so; by default,
    for the run's own Spark (`Versions.from_env()`: the default or TALLY_SPARK) and no other. The
    archives save about 3.4 s per driver launch and their training costs about two minutes once:
    they pay where a stack launches dozens of drivers (the gate, an audit), not on a Spark an
    upgrade only moves from, or one a side-by-side audit runs three scenarios on.
    """
    if trained is None:
        trained = versions.spark == Versions.from_env().spark
    started = time.monotonic()
    # A bar on a terminal only: a build takes minutes on a fresh machine, seconds when cached.
    with tqdm(total=5, desc=f"images {versions.label()}", unit="image", disable=None) as bar:
        base = base_image(JAVA17)
        bar.update()

        def built(tag: str) -> str:
            bar.update()
            return tag

        # Two lines of builds at once: the Spark image's waits on the Kafka image (its training runs
        # beside a broker), the other line builds what nothing waits on. The Spark line's long part
        # is its training, bound by CPU; the other's is mostly downloads (Go modules, Maven Central).
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="images") as pool:
            others = pool.submit(lambda: (built(toxiproxy_image(base)), built(cassandra_image(versions))))
            kafka = built(kafka_image(versions, base))
            spark = built(spark_image(versions, base, kafka, trained))
            toxiproxy, cassandra = others.result()
        images = Images(kafka, cassandra, spark, toxiproxy)
    say(
        f"ready for {versions.label()} in {time.monotonic() - started:.0f} s: "
        f"{images.kafka}, {images.cassandra}, {images.spark}, {images.toxiproxy}"
    )
    return images
