"""A deployer's install: the wheel, without the test extras, in a fresh virtual environment,
migrates an empty SQLite database, creates a user and renders a label. The environment is
kept in .cache/ per pyproject.toml, so a repeat run only reinstalls the wheel."""
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.xdist_group("wheel")

RENDER = """
import sys
from pathlib import Path
import cell_chain
from cell_chain import create_app
from cell_chain.labels.rendering import WristbandLabel, render_pdf
assert Path(cell_chain.__file__).resolve().is_relative_to(Path(sys.prefix).resolve()), cell_chain.__file__
with create_app().app_context():
    pdf = render_pdf("wristband", [WristbandLabel(subject_id="LZ-0001", initials="AB", birth_year=1970,
                                                  payload="=LZ-0001")])
Path(sys.argv[1]).write_bytes(pdf)
"""


def _run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    result = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=600, check=False)
    assert result.returncode == 0, f"{args}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def _environment() -> Path:
    key = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + (ROOT / "setup.py").read_bytes()
                         + sys.version.encode()).hexdigest()[:12]
    venv = ROOT / ".cache" / f"wheel-venv-{key}"
    for stale in venv.parent.glob("wheel-venv-*"):
        if stale != venv:
            shutil.rmtree(stale, ignore_errors=True)
    if not (venv / "bin" / "python").exists():
        _run(sys.executable, "-m", "venv", "--clear", venv, cwd=ROOT)
        (venv / ".fresh").touch()
    return venv


def test_the_wheel_installs_migrates_creates_a_user_and_prints_a_label(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    _run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", wheels, ROOT, cwd=tmp_path)
    (wheel,) = wheels.glob("cell_chain-*.whl")
    venv = _environment()
    python, flask = venv / "bin" / "python", venv / "bin" / "flask"
    fresh = venv / ".fresh"
    # A new environment resolves every runtime dependency from the wheel's metadata; a kept
    # one (same pyproject.toml) only takes the new build of the package itself.
    _run(python, "-m", "pip", "install", "--quiet", *(() if fresh.exists() else ("--no-deps",)),
         "--force-reinstall", wheel, cwd=tmp_path)
    fresh.unlink(missing_ok=True)
    missing = subprocess.run([python, "-c", "import pytest"], capture_output=True, check=False)
    assert missing.returncode != 0, "the test extras leaked into the deployer's environment"

    site = tmp_path / "site"
    site.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(FLASK_APP="cell_chain:create_app", DATABASE_URL=f"sqlite:///{site / 'cell_chain.sqlite3'}",
               SECRET_KEY="wheel-test")
    out = _run(flask, "db", "upgrade", cwd=site, env=env)
    _run(flask, "create-user", "admin1", "--role", "admin", "--password", "wheel-install-check-7Q2x",
         "--name", "First Admin", cwd=site, env=env)
    pdf = site / "wristband.pdf"
    _run(python, "-c", RENDER, pdf, cwd=site, env=env)
    assert pdf.read_bytes().startswith(b"%PDF")
    users = _run(python, "-c", "import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute("
                 "'select username, role from users').fetchall())", site / "cell_chain.sqlite3", cwd=site)
    assert users.strip() == "[('admin1', 'admin')]", out
