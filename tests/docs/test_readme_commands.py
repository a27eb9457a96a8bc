"""README.md's tour names every ``otmark`` subcommand of ``otmark --help``."""

import re
from pathlib import Path

from otmark.cli.main import COMMANDS

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_lists_every_command():
    text = README.read_text(encoding="utf-8")
    match = re.search(r"`otmark --help` lists the commands: (.*?)\.", text, re.S)
    assert match, "README.md: no sentence listing the commands"
    listed = re.findall(r"`([a-z-]+)`", match.group(1))
    assert sorted(listed) == sorted(COMMANDS)
