"""How many cases each property ran, printed at the end of the test run."""

from collections import Counter

CASES: Counter[str] = Counter()


def count(name: str, n: int = 1) -> None:
    CASES[name] += n
