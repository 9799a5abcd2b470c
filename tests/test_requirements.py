"""The requires query language and platform matching (no servers needed)."""
import pytest

from dirt.errors import RequirementError
from dirt.requirements import mismatch, parse_requirement

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
    assert (mismatch({"requires": [rule]}, INFO) is None) == ok


def test_values_with_spaces_and_reasons():
    req = parse_requirement("platform is Linux 6")
    assert (req.key, req.op, req.value) == ("platform", "is", "Linux 6")
    assert "architecture is 'x86_64'" in mismatch({"requires": ["architecture is arm64"]}, INFO)
    assert "node has no 'gpu'" in mismatch({"requires": ["gpu is yes"]}, INFO)


@pytest.mark.parametrize("bad", [["architecture equals x86_64"], ["x86_64"], [42], {"a": 1}, ["is x86_64"]])
def test_malformed_rules_raise(bad):
    with pytest.raises(RequirementError):
        mismatch({"requires": bad}, INFO)


@pytest.mark.parametrize("platform, ok", [
    ("linux", True), ("Linux", True), ("linux2", False), ("osx", False), ("darwin", False), ("", True), (None, True),
])
def test_platform(platform, ok):
    assert (mismatch({"platform": platform}, INFO) is None) == ok


def test_platform_aliases():
    mac = {"sys_platform": "darwin", "platform": "macOS-14.1-arm64"}
    assert mismatch({"platform": "osx"}, mac) is None
    assert mismatch({"platform": "macos"}, mac) is None
    assert mismatch({"platform": "linux"}, mac) == "platform is darwin, not linux"
