"""Words shared by the CLI, the GUI and the core's and ML layer's own messages: counts with their plural."""

from __future__ import annotations


def plural(count: int, word: str) -> str:
    """``plural(1, "photo")`` is "1 photo", ``plural(1200, "photo")`` "1,200 photos" (regular plurals only)."""
    return f"{count:,} {word}{'s' * (count != 1)}"


def listing(items: list[str]) -> str:
    """"a", "a and b", "a, b and c"."""
    return " and ".join([", ".join(items[:-1]), items[-1]] if len(items) > 2 else items)
