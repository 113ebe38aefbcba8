"""Print the functions of geo/, api/ and maps/ longer than a limit (from ``def`` to their last line,
nested bodies included, migrations excluded), longest first, and the counts #23 asks about.

    python scripts/function_lengths.py [--over 80]

The counting rule lives in :func:`long_functions`; ``tests/test_quality.py`` holds the house to it.
"""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("geo", "api", "maps")


def long_functions(*, over_lines: int = 80, root: Path = ROOT) -> list[tuple[int, str]]:
    """Return ``(lines, "path:line name")`` for every function longer than ``over_lines``, longest first."""
    found: list[tuple[int, str]] = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                    lines = (node.end_lineno or node.lineno) - first + 1
                    if lines > over_lines:
                        found.append((lines, f"{path.relative_to(root)}:{node.lineno} {node.name}"))
    return sorted(found, reverse=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--over", type=int, default=80)
    args = parser.parse_args()
    rows = long_functions(over_lines=args.over)
    for lines, where in rows:
        print(f"{lines:5d}  {where}")
    print(f"{len(rows)} functions over {args.over} lines; "
          f"{sum(1 for n, _ in rows if n > 120)} over 120; longest {rows[0][0] if rows else 0}")


if __name__ == "__main__":
    main()
