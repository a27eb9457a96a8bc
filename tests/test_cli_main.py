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


def test_help_loads_no_heavy_dependency():
    """``otmark --help`` imports every subcommand module: none may load torch, OpenCV, SciPy,
    h5py or matplotlib (their imports stay inside ``run``)."""
    heavy = ["torch", "cv2", "scipy", "h5py", "matplotlib"]
    code = (
        "import sys\n"
        "from otmark.cli.main import build_parser\n"
        "build_parser().format_help()\n"
        f"print(sorted(m for m in {heavy!r} if m in sys.modules))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[]"
