"""The README's commands as written: every `python jobs/<job>.py ...` in its shell blocks composes and
validates (a renamed key or a removed option breaks this test, not a user's first try), and every
script and module it names exists."""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

import pytest

from phi3ray.config import load_config

pytestmark = pytest.mark.fast  # no Ray, no Weaviate, no model: scripts/test.sh --fast

ROOT = Path(__file__).resolve().parents[1]
CONFIG_OF = {"train": "train", "ingest": "ingest", "evaluate": "evaluate"}


def shell_commands() -> list[str]:
    """The commands of the README's ```bash blocks, continuation lines joined, comments dropped."""
    text = (ROOT / "README.md").read_text()
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = line.split(" #", 1)[0].strip()
            if line and not line.startswith("#"):
                commands.append(line)
    return commands


def words_of(command: str) -> list[str]:
    """The shell words of a command; [] for the lines of a multi-line quoted argument (curl's JSON body)."""
    try:
        return shlex.split(command)
    except ValueError:
        return []


def job_commands() -> list[tuple[str, list[str]]]:
    found = []
    for command in shell_commands():
        words = words_of(command)
        if "python" in words and words[words.index("python") + 1].startswith("jobs/"):
            at = words.index("python")
            job = Path(words[at + 1]).stem
            overrides = [w for w in words[at + 2:] if w != "--cfg" and w != "job"]
            found.append((job, overrides))
    return found


def test_the_readme_shows_the_main_commands():
    jobs = {job for job, _ in job_commands()}
    assert jobs == {"train", "ingest", "evaluate"}
    commands = shell_commands()
    assert "scripts/quickstart.sh" in " ".join(commands) and ". scripts/env.sh" in commands


@pytest.mark.parametrize("job,overrides", job_commands(), ids=lambda v: " ".join(v) if isinstance(v, list) else v)
def test_every_job_command_composes_and_validates(job, overrides):
    # as the shell passes them: $VARS expanded (a `~` after `=` is not: Hydra's grammar refuses it), placeholders filled
    words = [os.path.expandvars(o.replace("<run>", "run").replace("YOUR-BUCKET", "bucket")) for o in overrides]
    load_config(CONFIG_OF[job], words)


def test_every_script_and_module_named_exists():
    for command in shell_commands():
        for word in words_of(command):
            if re.fullmatch(r"(scripts|jobs|bench|serve)/[\w./-]+\.(sh|py|yaml)", word):
                assert (ROOT / word).is_file(), f"README names {word}, which does not exist"
