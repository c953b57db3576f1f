"""Fixtures every test folder may use: the tiny models, built once per test session.

The toy-world stand-in takes most of the suite's time to build (15-20 minutes on one core), so
when a selected test needs it, its build starts in a process of its own as soon as the tests are
collected, and those tests run last: the build overlaps everything else (which runs on one
thread, tests/personalization/conftest.py) instead of coming before it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

STAND_IN = "toyworld_model"
# Waiting for the build is part of the first stand-in test's setup, which pytest-timeout counts.
STAND_IN_TIMEOUT = 3600


class StandInBuild:
    """`yo tiny-model DIR --pretrain toyworld` running in the background; `result()` waits for it."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="yo-stand-in-"))
        self.folder = self.root / "llava"
        self.log = self.root / "build.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bot.cli", "tiny-model", str(self.folder), "--pretrain", "toyworld"],
                stdout=subprocess.PIPE, stderr=log)
        self._result: tuple[Path, dict[str, float]] | None = None

    def result(self) -> tuple[Path, dict[str, float]]:
        """The model's folder and the accuracies on its own held-out questions, which it prints last."""
        if self._result is None:
            out, _ = self.process.communicate(timeout=STAND_IN_TIMEOUT)
            stdout = out.decode(errors="replace")
            assert self.process.returncode == 0, self.log.read_text(errors="replace")[-3000:]
            report = [line for line in stdout.splitlines() if line.startswith("toyworld: seconds=")][-1]
            print(report)
            figures = dict(item.split("=") for item in report.removeprefix("toyworld: ").split())
            self._result = self.folder, {k: float(v) for k, v in figures.items()}
        return self._result

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.root, ignore_errors=True)


_build: StandInBuild | None = None


@pytest.hookimpl(trylast=True)  # after -k / -m have deselected what they will
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    global _build
    needing = [item for item in items if STAND_IN in getattr(item, "fixturenames", ())]
    if not needing or config.option.collectonly:
        return
    items[:] = [item for item in items if STAND_IN not in getattr(item, "fixturenames", ())] + needing
    for item in needing:
        item.add_marker(pytest.mark.timeout(STAND_IN_TIMEOUT))
    _build = StandInBuild()


def pytest_unconfigure(config: pytest.Config) -> None:
    if _build is not None:
        _build.close()


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random LLaVA saved like a real checkpoint (answers mean nothing)."""
    from lab.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "llava", seed=0)


@pytest.fixture(scope="session")
def toyworld_model() -> tuple[Path, dict[str, float]]:
    """The toy-world stand-in: the tiny LLaVA pretrained on the procedural world, built through the
    command line (`yo tiny-model DIR --pretrain toyworld`), with the accuracies on its own held-out
    questions that the command prints last."""
    assert _build is not None, "started when the tests were collected"
    return _build.result()
