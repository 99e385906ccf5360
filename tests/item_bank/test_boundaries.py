"""item_bank must stay pure: no web framework, ORM, cache client or import of the web app."""

import ast
from pathlib import Path

import item_bank

FORBIDDEN = ("flask", "flask_sqlalchemy", "flask_login", "sqlalchemy", "redis", "marshmallow", "assessment")


def _imported_top_levels(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_item_bank_imports_no_web_or_storage_package():
    root = Path(item_bank.__file__).parent
    offenders = {
        str(path.relative_to(root)): sorted(_imported_top_levels(path) & set(FORBIDDEN))
        for path in root.rglob("*.py")
    }
    offenders = {k: v for k, v in offenders.items() if v}
    assert offenders == {}
