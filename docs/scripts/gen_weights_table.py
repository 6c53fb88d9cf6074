"""Write the table of official checkpoints into docs/guide/fine-tuning.md.

The table is rendered from the package data (src/nanodet_plus/models/official_weights.json)
by ``nanodet_plus.models.official_weights.weights_table_markdown`` and replaces what stands
between ``<!-- generated: official-weights ... -->`` and ``<!-- end generated -->``. Run after
changing the table:
    .venv/bin/python docs/scripts/gen_weights_table.py
``tests/models/test_official_weights.py`` fails while the page differs from what this writes.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from nanodet_plus.models.official_weights import weights_table_markdown

PAGE = Path(__file__).resolve().parents[1] / "guide" / "fine-tuning.md"
BLOCK = re.compile(r"(<!-- generated: official-weights[^>]*-->\n).*?(<!-- end generated -->)",
                   re.S)


def main() -> int:
    text = PAGE.read_text(encoding="utf-8")
    if not BLOCK.search(text):
        print(f"{PAGE}: no <!-- generated: official-weights --> block", file=sys.stderr)
        return 1
    table = weights_table_markdown()
    PAGE.write_text(BLOCK.sub(lambda m: f"{m.group(1)}\n{table}\n{m.group(2)}", text, count=1),
                    encoding="utf-8")
    print(f"wrote the official-weights table of {PAGE.relative_to(PAGE.parents[2])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
