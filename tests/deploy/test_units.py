"""The systemd units in deploy/: valid for systemd, hardened, and running real commands."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mediashelf.cli.main import app

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
UNITS = {"mediashelf.service": "serve", "mediashelf-worker.service": "worker"}
INSTALLED = "/opt/mediashelf/venv/bin/mediashelf"
HARDENING = {
    "NoNewPrivileges": "yes", "PrivateTmp": "yes", "PrivateDevices": "yes",
    "ProtectSystem": "strict", "ProtectHome": "yes", "ProtectKernelTunables": "yes",
    "ProtectKernelModules": "yes", "ProtectControlGroups": "yes", "RestrictSUIDSGID": "yes",
    "CapabilityBoundingSet": "", "LockPersonality": "yes", "RestrictNamespaces": "yes",
}  # fmt: skip


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """Return {section: {key: [values]}} of a systemd unit (keys may repeat)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None, f"a setting outside any section: {line!r}"
        key, sep, value = line.partition("=")
        assert sep, f"not a key=value line: {line!r}"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


@pytest.mark.parametrize(("name", "command"), UNITS.items())
def test_unit_runs_an_unprivileged_hardened_mediashelf(name: str, command: str) -> None:
    unit = parse_unit((DEPLOY / name).read_text())
    assert set(unit) == {"Unit", "Service", "Install"}
    service = unit["Service"]
    assert service["User"] == ["mediashelf"]
    assert service["ExecStart"] == [f"{INSTALLED} {command}"]
    help_text = CliRunner().invoke(app, [command, "--help"])
    assert help_text.exit_code == 0  # the command the unit runs exists
    for key, value in HARDENING.items():
        assert service.get(key) == [value], key
    assert "ProcSubset" not in service  # watch mode reads /proc/sys/fs/inotify
    data_dir = next(v.split("=", 1)[1] for v in service["Environment"]
                    if v.startswith("MEDIASHELF_DATA_DIR="))  # fmt: skip
    assert service["ReadWritePaths"] == [data_dir]
    assert service["ReadOnlyPaths"] == ["/srv/media"]
    assert service["EnvironmentFile"] == ["/etc/mediashelf/mediashelf.env"]
    assert unit["Install"]["WantedBy"] == ["multi-user.target"]


def _as_installed_here(name: str, tmp_path: Path) -> Path:
    """Copy the unit with ExecStart pointing at this environment's mediashelf (nothing else)."""
    here = Path(sys.executable).with_name("mediashelf")
    assert here.exists()
    copy = tmp_path / name
    copy.write_text((DEPLOY / name).read_text().replace(INSTALLED, str(here)))
    return copy


@pytest.mark.parametrize("name", UNITS)
def test_systemd_accepts_the_unit(name: str, tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:  # the parse above is then all the checking there is
        pytest.skip("systemd-analyze is not installed")
    unit = _as_installed_here(name, tmp_path)
    verified = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True,
                              timeout=60, check=False)  # fmt: skip
    # Unknown keys and bad values are only warnings for systemd: any output is a failure here.
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout + verified.stderr == ""
    security = subprocess.run([analyze, "security", "--offline=yes", str(unit)],
                              capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    level = re.search(r"Overall exposure level for \S+: ([\d.]+) (\w+)", security.stdout)
    assert level is not None, security.stdout[-500:]
    assert level.group(2) == "OK", level.group(0)
