"""What dominates a profiled worker: pyinstrument's session rendered as its call tree, plus self
time grouped by package (pstats), which the tree alone hides under many small frames."""

from __future__ import annotations

import pstats
import subprocess
import sys
from collections import Counter
from pathlib import Path

GROUPS = (
    ("waiting in epoll (idle: nothing ready)", ("selectors.py", "epoll.poll", "select.epoll")),
    ("faust", ("/faust/",)),
    ("mode", ("/mode/",)),
    ("aiokafka", ("/aiokafka/",)),
    ("asyncpg", ("/asyncpg/",)),
    ("opentelemetry", ("/opentelemetry/",)),
    (
        "linguaflow (streams, sinks, schemas, linguaflow)",
        ("/streams/", "/sinks/", "/schemas/", "/linguaflow/"),
    ),
    ("asyncio", ("/asyncio/",)),
    ("logging", ("/logging/",)),
)


def _group(filename: str, function: str) -> str:
    where = f"{filename} {function}"
    for name, needles in GROUPS:
        if any(n in where for n in needles):
            return name
    return "other (stdlib, builtins, C extensions)"


def render(session: Path, out_dir: Path, top: int = 25) -> str:
    """Write profile.txt (tree) and profile.pstats next to ``session``; return a markdown summary."""
    tree = out_dir / "profile.txt"
    stats_file = out_dir / "profile.pstats"
    base = [sys.executable, "-m", "pyinstrument", f"--load={session}", "--no-color"]
    subprocess.run([*base, "-r", "text", "-o", str(tree)], check=True, timeout=300)
    subprocess.run([*base, "-r", "pstats", "-o", str(stats_file)], check=True, timeout=300)
    stats = pstats.Stats(str(stats_file))
    raw = stats.stats  # type: ignore[attr-defined]
    by_group: Counter[str] = Counter()
    by_function: Counter[str] = Counter()
    for (filename, line, function), (_cc, _nc, tottime, _ct, _callers) in raw.items():
        by_group[_group(filename, function)] += tottime
        short = "/".join(Path(filename).parts[-2:])
        by_function[f"{short}:{line} {function}"] += tottime
    total = sum(by_group.values()) or 1.0
    lines = ["| self time by package | s | share |", "|---|---|---|"]
    lines += [f"| {g} | {t:.1f} | {t / total:.0%} |" for g, t in by_group.most_common()]
    lines += ["", "| top functions by self time | s | share |", "|---|---|---|"]
    lines += [f"| `{f}` | {t:.1f} | {t / total:.0%} |" for f, t in by_function.most_common(top)]
    head = tree.read_text().splitlines()[:50]
    return "\n".join([*lines, "", "Call tree (pyinstrument, first lines):", "", "```", *head, "```"])
