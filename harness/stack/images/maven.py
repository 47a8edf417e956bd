"""Resolve Maven artifacts with their runtime dependencies into a directory of jars."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path
from xml.sax.saxutils import escape

DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
# Some POMs (Spark's) declare extra repositories that cannot be reached here; route all to Central.
SETTINGS = """<settings><mirrors><mirror><id>central-only</id><mirrorOf>*</mirrorOf>
<url>https://repo.maven.apache.org/maven2</url></mirror></mirrors></settings>"""


# One resolution at a time: two Maven processes fetching the same artifact into ~/.m2 at once can
# leave it half-written, and the images are built two at a time (images.ensure_images).
_ONE_AT_A_TIME = threading.Lock()


class MavenError(RuntimeError):
    pass


def _pom(coordinates: Iterable[str]) -> str:
    dependencies = []
    for coordinate in coordinates:
        group, artifact, version = coordinate.split(":")
        dependencies.append(
            f"<dependency><groupId>{escape(group)}</groupId><artifactId>{escape(artifact)}"
            f"</artifactId><version>{escape(version)}</version></dependency>"
        )
    return (
        '<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>'
        "<groupId>tally</groupId><artifactId>jars</artifactId><version>1</version>"
        f"<dependencies>{''.join(dependencies)}</dependencies></project>"
    )


def resolve_jars(coordinates: Iterable[str], into: Path) -> list[Path]:
    """Copy each artifact and its runtime dependencies (through ~/.m2, so repeats are offline)."""
    if shutil.which("mvn") is None:
        raise MavenError("Maven is missing: run `apt-get install -y maven`.")
    into.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="tally-mvn-") as work:
        pom = Path(work) / "pom.xml"
        pom.write_text(_pom(coordinates))
        settings = Path(work) / "settings.xml"
        settings.write_text(SETTINGS)
        with _ONE_AT_A_TIME:
            result = subprocess.run(
                [
                    "mvn",
                    "-B",
                    "-q",
                    "-s",
                    str(settings),
                    "-f",
                    str(pom),
                    f"{DEPENDENCY_PLUGIN}:copy-dependencies",
                    f"-DoutputDirectory={into}",
                    "-DincludeScope=runtime",
                ],
                capture_output=True,
                text=True,
                check=False,
            )
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-20:])
        raise MavenError(
            f"could not resolve {', '.join(coordinates)} from Maven Central "
            f"(is the version published?):\n{tail}"
        )
    return sorted(into.glob("*.jar"))
