"""The package structure follows a dose's journey: the import contract in pyproject.toml
holds, it catches an upward import (also one inside a function), and no layered package
imports project code inside a function."""
import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT = Path(sys.executable).with_name("lint-imports")
JOURNEY = ["core", "web", "accounts", "batches", "labels", "patients", "shipments", "infusions",
           "reconciliation", "exchange", "audit_trail"]


def _lint(project: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(project)}
    return subprocess.run([str(LINT), "--no-cache"], cwd=project, env=env, capture_output=True,
                          text=True, timeout=120, check=False)


def test_import_contract_holds() -> None:
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


def test_import_contract_refuses_an_upward_import_even_inside_a_function(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "cell_chain", tmp_path / "cell_chain",
                    ignore=shutil.ignore_patterns("__pycache__", "static", "templates"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    clock = tmp_path / "cell_chain" / "core" / "clock.py"
    clock.write_text(clock.read_text() + "\n\ndef _late() -> None:\n"
                     "    from cell_chain.shipments import custody  # noqa: F401\n")
    result = _lint(tmp_path)
    assert result.returncode == 1
    assert "cell_chain.core is not allowed to import cell_chain.shipments" in result.stdout
    assert "cell_chain.core.clock -> cell_chain.shipments.custody" in result.stdout


def test_contract_lists_the_journey_in_order() -> None:
    text = (ROOT / "pyproject.toml").read_text()
    start = text.index('type = "layers"')
    layers = [line.strip().strip('",').removeprefix("cell_chain.")
              for line in text[start:text.index("]", start)].splitlines()[2:]]
    assert list(reversed(layers)) == JOURNEY


def test_layered_packages_import_project_code_only_at_module_level() -> None:
    # A function-level import is how a cycle hides; the app factory and CLI (the shell,
    # outside the layers) register blueprints that way on purpose.
    hidden = []
    for package in JOURNEY:
        for path in sorted((ROOT / "cell_chain" / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            top = {id(node) for node in tree.body}
            for node in ast.walk(tree):
                module = (node.module if isinstance(node, ast.ImportFrom) else
                          next((a.name for a in node.names), "") if isinstance(node, ast.Import) else None)
                if module and module.startswith("cell_chain") and id(node) not in top:
                    hidden.append(f"{path.relative_to(ROOT)}:{node.lineno} {module}")
    assert hidden == []
