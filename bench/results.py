"""Writing one section of bench/RESULTS.md without touching the others."""

from __future__ import annotations

from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
HEADER = (
    "# Benchmark results\n\nEach section is written by its script in `bench/`; "
    "ratios are against a baseline run in the same script.\n"
)


def write_section(title: str, body: str) -> None:
    text = RESULTS.read_text() if RESULTS.exists() else HEADER
    heading = f"## {title}"
    start = text.find(heading)
    block = f"{heading}\n\n{body.rstrip()}\n"
    if start < 0:
        text = text.rstrip() + "\n\n" + block
    else:
        nxt = text.find("\n## ", start + len(heading))
        text = text[:start] + block + (text[nxt + 1 :] if nxt >= 0 else "")
        text = text.replace(block + "## ", block + "\n## ")
    RESULTS.write_text(text)
