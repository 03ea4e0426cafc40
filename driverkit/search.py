"""Hypothesis search over batches for the clauses the fixed vectors did not
break, within a time budget; each new clause is shrunk to the smallest batch
that still breaks it.

Hypothesis runs in rounds of a few dozen examples with successive seeds.  A
case that breaks a clause not yet found fails the round's test, so
Hypothesis shrinks it; the last failing case seen for a clause is the
smallest.  Once the budget is spent every further case passes at once, which
ends generation and shrinking quickly.
"""

from __future__ import annotations

import time
import warnings

from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis.errors import HypothesisWarning

from .clauses import Violation
from .harness import Checker
from .inputs import cases

__all__ = ["search"]

ROUND_EXAMPLES = 40


class _NewClause(Exception):
    pass


def search(checker: Checker, found: dict[str, Violation], budget: float, seed: int,
           batch: int, give_up=lambda: False, max_cases: int | None = None,
           page_sizes=(4096,)) -> int:
    """Search until `budget` seconds have passed (or `max_cases` cases ran);
    add new clauses to `found`.  Returns the number of cases run."""
    deadline = time.monotonic() + budget
    ran = 0
    smallest: dict[str, Violation] = {}

    def spent() -> bool:  # at least one case, whatever the clock says
        return ((ran > 0 and time.monotonic() > deadline) or give_up()
                or (max_cases is not None and ran >= max_cases))

    def body(case):
        nonlocal ran
        if spent():
            return
        ran += 1
        new = [v for v in checker.run_case(case) if v.clause not in found]
        if new:
            for v in new:
                v.found_by = "search"
                smallest[v.clause] = v
            raise _NewClause(new[0].clause)

    strategy = cases(page_sizes, batch)
    round_seed = seed
    while not spent():
        test = settings(max_examples=ROUND_EXAMPLES, deadline=None, database=None,
                        phases=[Phase.generate, Phase.shrink], verbosity=Verbosity.quiet,
                        suppress_health_check=list(HealthCheck))(given(strategy)(body))
        test = hypothesis_seed(round_seed)(test)
        try:
            with warnings.catch_warnings():
                # Hypothesis's report of a case holds its pages: long, and unused here.
                warnings.simplefilter("ignore", HypothesisWarning)
                test()
        except Exception:  # noqa: BLE001 - a found clause (or Hypothesis's report of it)
            pass
        for clause, v in smallest.items():
            found.setdefault(clause, v)
        smallest.clear()
        round_seed += 1
    return ran
