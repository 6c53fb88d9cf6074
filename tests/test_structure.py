"""Structure rules of the package that no linter checks: short functions, no outside reads."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MAX_FUNCTION_LINES = 80
LONG_REASON = "Long because"


def _long_functions() -> list[str]:
    found = []
    for path in sorted((REPO / "src").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            length = node.end_lineno - node.lineno + 1
            docstring = ast.get_docstring(node) or ""
            if length > MAX_FUNCTION_LINES and LONG_REASON not in docstring:
                found.append(f"{path.relative_to(REPO)}:{node.lineno} {node.name} ({length})")
    return found


def test_functions_fit_on_a_screen():
    """Over 80 lines only with a reason in the docstring ("Long because ...")."""
    assert _long_functions() == []


def test_nothing_reads_outside_the_repository():
    """A user's clone has no ../shared: tests, benchmarks and sources use tests/assets."""
    pattern = re.compile(r"""parents?\[?\d*\]?\s*/\s*["']shared["']|\.\./shared""")
    offenders = [
        str(path.relative_to(REPO))
        for folder in ("src", "tests", "benchmarks")
        for path in sorted((REPO / folder).rglob("*.py"))
        if path != Path(__file__) and pattern.search(path.read_text())
    ]
    assert offenders == []


def test_every_exported_name_resolves():
    """Each name a module lists in ``__all__`` (lazy maps included) can be imported."""
    import importlib
    import pkgutil

    import nanodet_plus

    missing = []
    for info in pkgutil.walk_packages(nanodet_plus.__path__, "nanodet_plus."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for name in getattr(module, "__all__", []):
            if not hasattr(module, name):
                missing.append(f"{info.name}.{name}")
    missing += [name for name in nanodet_plus.__all__ if not hasattr(nanodet_plus, name)]
    assert missing == []
