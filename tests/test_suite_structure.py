"""The suite's own shape: no module under tests/ imports a test module (`test_*.py`). What
several modules share lives in a helper module (tests/pages.py, tests/factories.py, ...) or in
a conftest.py; importing a test module would also import its tests into the importer."""
import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent


def is_test_module(name: str) -> bool:
    return name.startswith("tests.") and name.rsplit(".", 1)[-1].startswith("test_")


def imported_modules(source: str, module: str) -> list[tuple[int, str]]:
    """(line, module) for every module that `source` (the module named `module`) imports, at
    any depth, relative imports resolved; `from package import name` counts `package.name`
    when that is a module file."""
    package = module.split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            name = ".".join(base + ([node.module] if node.module else []))
            found.append((node.lineno, name))
            for alias in node.names:
                if ROOT.joinpath(*name.split("."), f"{alias.name}.py").is_file():
                    found.append((node.lineno, f"{name}.{alias.name}"))
    return found


def test_no_module_of_the_suite_imports_a_test_module():
    offenders = []
    for path in sorted(TESTS.rglob("*.py")):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        offenders += [f"{path.relative_to(ROOT)}:{line} imports {name}"
                      for line, name in imported_modules(path.read_text(encoding="utf-8"), module)
                      if is_test_module(name)]
    assert not offenders, "move what is shared to a helper module or a conftest.py:\n" + "\n".join(offenders)


def test_each_way_of_importing_a_test_module_is_seen():
    module, imported = "tests.shipments.helper", "tests.shipments." + "test_shipments"
    for source in (f"from {imported} import scan_of",
                   f"import {imported}",
                   "from tests.shipments import test_shipments",
                   "from .test_shipments import scan_of",
                   "from . import test_shipments",
                   "from ..shipments.test_shipments import scan_of",
                   f"def helper():\n    from {imported} import scan_of\n"):
        assert imported in [name for _, name in imported_modules(source, module)], source
    for source in ("from tests.pages import html", "from tests.shipments.conftest import scan_of",
                   "import tests.factories", "from . import conftest"):
        assert not any(is_test_module(name) for _, name in imported_modules(source, module)), source
