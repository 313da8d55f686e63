"""The exchange package sits on top: it may read every domain package, and only the app
factory imports it (to register its blueprints)."""
import ast
from pathlib import Path

import cell_chain

PACKAGE = Path(cell_chain.__file__).parent


def test_nothing_but_the_app_factory_imports_the_exchange():
    importers = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] == "exchange" or relative == Path("__init__.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            modules = ([node.module or ""] if isinstance(node, ast.ImportFrom)
                       else [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            if any(m == "cell_chain.exchange" or m.startswith("cell_chain.exchange.") for m in modules):
                importers.append(f"{relative}:{node.lineno}")
    assert importers == []
    factory = (PACKAGE / "__init__.py").read_text(encoding="utf-8")
    assert "cell_chain.exchange" in factory
