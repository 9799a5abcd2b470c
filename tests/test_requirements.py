"""The requires query language and platform matching (no servers needed)."""
import pytest

from dirt.errors import RequirementError
from dirt.requirements import mismatch, parse_requirement, parse_requirements

INFO = {
    "architecture": "x86_64", "cpu_count": 4, "sys_platform": "linux",
    "platform": "Linux-6.1.0-x86_64-with-glibc2.36",
    "environ": {"G4INSTALL": "/opt/g4", "HOME": "/root"}, "path": ["/bin", "/usr/bin"],
}


@pytest.mark.parametrize("rule, ok", [
    ("architecture is x86_64", True),
    ("architecture is sparc64", False),
    ("architecture not sparc64", True),
    ("architecture not x86_64", False),
    ("cpu_count is 4", True),
    ("G4INSTALL in environ", True),
    ("ROOTSYS in environ", False),
    ("ROOTSYS not_in environ", True),
    ("G4INSTALL not_in environ", False),
    ("/usr/bin in path", True),
    ("/opt/bin in path", False),
    ("glibc in platform", True),
    ("missing_key is x", False),
])
def test_operators(rule, ok):
    assert (mismatch(None, parse_requirements([rule]), INFO) is None) == ok


def test_values_with_spaces_and_reasons():
    req = parse_requirement("platform is Linux 6")
    assert (req.key, req.op, req.value) == ("platform", "is", "Linux 6")
    assert "architecture is 'x86_64'" in mismatch(None, parse_requirements(["architecture is arm64"]), INFO)
    assert "node has no 'gpu'" in mismatch(None, parse_requirements(["gpu is yes"]), INFO)
    # words are separated by any run of ASCII white space, as validate_doc_update.js reads them
    req = parse_requirement("  architecture \t is   x86_64 ")
    assert (req.key, req.op, req.value) == ("architecture", "is", "x86_64")


@pytest.mark.parametrize("bad", [["architecture equals x86_64"], ["x86_64"], [42], {"a": 1}, ["is x86_64"],
                                 "architecture is x86_64"])
def test_malformed_rules_raise(bad):
    with pytest.raises(RequirementError):
        parse_requirements(bad)


def test_one_string_is_refused_with_how_to_write_it():
    with pytest.raises(RequirementError, match=r'not one string: write \["architecture is x86_64"\]'):
        parse_requirements("architecture is x86_64")


@pytest.mark.parametrize("platform, ok", [
    ("linux", True), ("Linux", True), ("linux2", False), ("osx", False), ("darwin", False), ("", True), (None, True),
])
def test_platform(platform, ok):
    assert (mismatch(platform, (), INFO) is None) == ok


def test_platform_aliases():
    mac = {"sys_platform": "darwin", "platform": "macOS-14.1-arm64"}
    assert mismatch("osx", (), mac) is None
    assert mismatch("macos", (), mac) is None
    assert mismatch("linux", (), mac) == "platform is darwin, not linux"
