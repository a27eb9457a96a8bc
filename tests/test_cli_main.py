import subprocess
import sys

import otmark
from otmark.cli.main import build_parser, main


def test_version_string():
    assert otmark.__version__.count(".") == 2


def test_help_lists_every_registered_command(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    from otmark.cli.main import COMMANDS

    for name in COMMANDS:
        assert name in out


def test_python_dash_m_entry_point():
    res = subprocess.run([sys.executable, "-m", "otmark", "--help"], capture_output=True, text=True)
    assert res.returncode == 0
    assert "usage: otmark" in res.stdout


def test_parser_builds():
    assert build_parser().prog == "otmark"
