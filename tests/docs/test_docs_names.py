"""Every Python name, command, option and config key the docs mention exists."""

from __future__ import annotations

import importlib
import re
import shlex
from pathlib import Path

import pytest

import nanodet_plus
from nanodet_plus.cli.main import build_parser
from nanodet_plus.cli.options import all_parsers
from nanodet_plus.config.reference import iter_fields

ROOT = Path(__file__).resolve().parents[2]
PAGES = [*sorted((ROOT / "docs").rglob("*.md")), ROOT / "README.md"]
DIRECTIVE = re.compile(r"^::: *([\w.]+)", re.MULTILINE)
DOTTED = re.compile(r"`(nanodet_plus(?:\.\w+)+)")
ND_NAME = re.compile(r"\bnd\.(\w+)")
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
CONFIG_KEYS = {key for key, _ in iter_fields()}


def resolve(dotted: str) -> object:
    """The object a dotted path names: the longest importable module, then attributes."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[cut:]:
            obj = getattr(obj, attribute)
        return obj
    raise ModuleNotFoundError(dotted)


def mentions(pattern: re.Pattern) -> list[tuple[str, str]]:
    return [(page.relative_to(ROOT).as_posix(), name) for page in PAGES
            for name in pattern.findall(page.read_text(encoding="utf-8"))]


@pytest.mark.parametrize(("page", "name"), mentions(DIRECTIVE) + mentions(DOTTED))
def test_python_names_in_the_docs_exist(page, name):
    try:
        resolve(name)
    except (ImportError, AttributeError) as exc:
        pytest.fail(f"{page} mentions {name}, which does not exist ({exc})")


@pytest.mark.parametrize(("page", "name"), mentions(ND_NAME))
def test_nd_names_in_the_docs_exist(page, name):
    assert hasattr(nanodet_plus, name), f"{page} uses nd.{name}, not in nanodet_plus"


def test_every_public_name_is_in_the_api_reference():
    targets = DIRECTIVE.findall((ROOT / "docs" / "reference" / "api.md").read_text())
    documented = {id(resolve(target)) for target in targets}
    missing = [name for name in nanodet_plus.__all__
               if name != "__version__" and id(getattr(nanodet_plus, name)) not in documented]
    assert not missing, f"public names missing from docs/reference/api.md: {missing}"
    undocumented = [target for target in targets if not (resolve(target).__doc__ or "").strip()]
    assert not undocumented, f"no docstring: {undocumented}"


def command_lines() -> list[tuple[str, str]]:
    """``nanodet ...`` lines of the code blocks (continuations joined, comments dropped)."""
    found = []
    for page in PAGES:
        for block in FENCE.findall(page.read_text(encoding="utf-8")):
            for line in block.replace("\\\n", " ").splitlines():
                line = line.strip().removeprefix("$ ")
                if line.startswith("nanodet "):
                    found.append((page.relative_to(ROOT).as_posix(), line.split(" #")[0]))
    return found


@pytest.mark.parametrize(("page", "line"), command_lines())
def test_commands_in_the_docs_exist(page, line):
    parsers = dict(all_parsers(build_parser()))
    tokens = shlex.split(line)[1:]
    command = ""
    while tokens and f"{command} {tokens[0]}".strip() in parsers:
        command = f"{command} {tokens.pop(0)}".strip()
    assert command, f"{page}: unknown command in {line!r}"
    options = {option for action in parsers[command]._actions
               for option in action.option_strings}
    options |= set(parsers[""]._option_string_actions)
    for token in tokens:
        if token.startswith("-") and token not in ("-",):
            name = token.split("=")[0]
            assert name in options, f"{page}: `nanodet {command}` has no option {name}: {line!r}"
        elif re.fullmatch(r"[a-z_]+(\.[a-z_0-9]+)+=.*", token):
            key = token.split("=")[0]
            assert key in CONFIG_KEYS, f"{page}: {key} is not a config key: {line!r}"


def test_readme_links_point_at_files():
    """mkdocs checks the links of the pages under docs/; the README is checked here."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    links = [link.split("#")[0] for link in re.findall(r"\]\(([^)\s]+)\)", text)
             if not link.startswith(("http://", "https://", "#"))]
    assert links, "no relative links found in README.md"
    missing = [link for link in links if not (ROOT / link).exists()]
    assert not missing, f"README.md links to missing files: {missing}"
