"""`python -m harness`: every command and sub-command has its help, and `audit compare` is one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness.__main__ import main


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        ([], "{images,pyspark,audit}"),
        (["images"], "--spark-version"),
        (["pyspark"], "--spark-version"),
        (["audit"], "--mutants"),
        (["audit", "compare"], "an audit directory or its audit.json"),
    ],
)
def test_every_command_has_its_help(argv: list[str], says: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main([*argv, "--help"])
    assert done.value.code == 0
    assert says in capsys.readouterr().out


def test_audit_compare_is_a_sub_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "compare", str(tmp_path / "nowhere"), str(tmp_path)]) == 2
    assert "nowhere" in capsys.readouterr().err


def test_the_command_line_loads_without_pyspark() -> None:
    """`python -m harness pyspark` installs pyspark: what it loads (every command parses the audit's
    options first) must not need it."""
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, harness.__main__, harness.audit.run; "
            "print(sorted(m for m in sys.modules if 'pyspark' in m))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert loaded.stdout.strip() == "[]"
