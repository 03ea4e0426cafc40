"""How many cases each property ran, printed at the end of the test run."""

from collections import Counter

CASES: Counter[str] = Counter()


def count(name: str) -> None:
    CASES[name] += 1
