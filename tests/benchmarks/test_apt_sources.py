"""``benchmarks/apt_sources.py``: the machine's ``deb`` entries (one-line and deb822 files)
become ``deb-src`` stanzas with the same archives, suites, components and keys."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "apt_sources.py"


@pytest.fixture(scope="module")
def apt():
    spec = importlib.util.spec_from_file_location("apt_sources", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # the dataclass looks its module up there
    spec.loader.exec_module(module)
    return module


ONE_LINE = """\
# a comment, then a deb line with options and a trailing comment
deb [arch=amd64 signed-by=/keys/a.gpg] http://archive.example/os stable main contrib # x
deb-src http://archive.example/os stable main
deb http://flat.example/repo ./

"""

DEB822 = """\
# first stanza: binary and source types together, two suites
Types: deb deb-src
URIs: http://archive.example/os
Suites: stable stable-updates
Components: main
Signed-By: /keys/a.gpg

Types: deb
URIs: http://security.example/os
Suites: stable-security
Components: main
Enabled: no

Types: deb
URIs: http://inline.example/os
Suites: testing
Components: main non-free
Signed-By:
 -----BEGIN PGP PUBLIC KEY BLOCK-----
 .
 abc
 -----END PGP PUBLIC KEY BLOCK-----

Types: deb-src
URIs: http://only-source.example/os
Suites: stable
"""


def test_one_line_and_deb822_entries(apt, tmp_path):
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list").write_text(ONE_LINE)
    (tmp_path / "sources.list.d" / "b.sources").write_text(DEB822)
    (tmp_path / "sources.list.d" / "a.list").write_text(ONE_LINE)  # repeats are dropped
    (tmp_path / "sources.list.d" / "c.list.disabled").write_text("deb http://off.example x y\n")
    entries = apt.machine_entries(tmp_path)
    key = "-----BEGIN PGP PUBLIC KEY BLOCK-----\n.\nabc\n-----END PGP PUBLIC KEY BLOCK-----"
    assert entries == [
        apt.Entry(
            ("http://archive.example/os",), ("stable",), ("main", "contrib"),
            (("Signed-By", "/keys/a.gpg"),),
        ),
        apt.Entry(("http://flat.example/repo",), ("./",), ()),
        apt.Entry(
            ("http://archive.example/os",), ("stable", "stable-updates"), ("main",),
            (("Signed-By", "/keys/a.gpg"),),
        ),
        apt.Entry(
            ("http://inline.example/os",), ("testing",), ("main", "non-free"),
            (("Signed-By", key),),
        ),
    ]  # fmt: skip
    text = apt.deb_src_stanzas(entries[1:])
    assert text == (
        "Types: deb-src\nURIs: http://flat.example/repo\nSuites: ./\n\n"
        "Types: deb-src\nURIs: http://archive.example/os\nSuites: stable stable-updates\n"
        "Components: main\nSigned-By: /keys/a.gpg\n\n"
        "Types: deb-src\nURIs: http://inline.example/os\nSuites: testing\n"
        "Components: main non-free\nSigned-By:\n -----BEGIN PGP PUBLIC KEY BLOCK-----\n .\n abc\n"
        " -----END PGP PUBLIC KEY BLOCK-----\n"
    )
    # the written stanzas read back as the same entries (as deb-src, so re-typed to deb)
    again = apt.parse_deb822(text.replace("Types: deb-src", "Types: deb"), "again")
    assert again == entries[1:]


def test_bad_entries_name_the_file(apt, tmp_path):
    with pytest.raises(ValueError, match=r"x\.list:2: a deb line needs a URI and a suite"):
        apt.parse_one_line("# ok\ndeb http://only-uri.example\n", "x.list")
    with pytest.raises(ValueError, match=r"x\.list:1: unclosed"):
        apt.parse_one_line("deb [signed-by=/k http://a.example s\n", "x.list")
    with pytest.raises(ValueError, match=r"y\.sources: stanza 2 .* no URIs or no Suites"):
        apt.parse_deb822("Types: deb-src\nURIs: u\n\nTypes: deb\nURIs: u\n", "y.sources")
    assert apt.machine_entries(tmp_path) == []  # no sources at all: nothing, no error
