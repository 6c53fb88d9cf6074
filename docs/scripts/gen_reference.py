"""Write the generated reference pages: docs/reference/config.md and docs/reference/cli.md.

Run after changing the config schema or a command's options:
    .venv/bin/python docs/scripts/gen_reference.py
``tests/docs/test_reference_pages.py`` fails while a page differs from what this writes.
"""

from __future__ import annotations

import sys
from pathlib import Path

from nanodet_plus.cli.reference import render_cli_reference
from nanodet_plus.config.reference import render_config_reference

DOCS = Path(__file__).resolve().parents[1]
PAGES = {
    DOCS / "reference" / "config.md": render_config_reference,
    DOCS / "reference" / "cli.md": render_cli_reference,
}


def main() -> int:
    for path, render in PAGES.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(), encoding="utf-8")
        print(f"wrote {path.relative_to(DOCS.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
