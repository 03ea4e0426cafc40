"""The theorems: one per invariant or equivalence of the spec, keyed by its
ID (`INV-...`, `EQV-...`), checked for each variant,
assumption set and page size; the counterexamples spelled out in C terms.

A theorem is proved when Z3 finds no input, under the assumption set, that
breaks it (`unsat`); a counterexample is the smallest batch that does, with
the values a debugger would show; `unknown` (the solver gave up within its
resource limit) is a failure, never a pass.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

from zswap_spec.model.cint import describe_u32, errno_name, s32, u32
from .assumptions import ASSUMPTIONS, domain
from .cexpr import AND, NOT, OR, bv, ult, z3
from .encode import COUNTERS, MAX_UNITS, Inputs, Outcome, encode, make_inputs, sizes

__all__ = ["THEOREMS", "Theorem", "Result", "spec_statement", "prove", "prove_all", "vacuity", "RLIMIT", "PAGE_SIZES"]

RLIMIT = 20_000_000  # z3 resource units per query: bounded effort, machine-independent
PAGE_SIZES = (4096, 16384, 65536)


def _pages(inp: Inputs):
    return [bv(k) < inp.n for k in range(MAX_UNITS)]


def _same_outcome(a: Outcome, b: Outcome, inp: Inputs):
    per_page = [z3.Implies(AND(in_folio, a.ok), AND(a.raw[k] == b.raw[k], a.length[k] == b.length[k]))
                for k, in_folio in enumerate(_pages(inp))]
    return AND(a.ok == b.ok, *per_page)


def eqv_outcome(v: Outcome, m: Outcome, inp: Inputs, variant: str):
    """Each page of the folio: stored or not as mainline, as-is or not, with mainline's length."""
    return _same_outcome(v, m, inp)


def eqv_counters(v, m, inp, variant):
    """Every reject counter moves by mainline's amount."""
    return AND(*[v.counters[c] == m.counters[c] for c in COUNTERS])


def inv_len(v, m, inp, variant):
    """A stored page's length is in (0, P]."""
    P = inp.page_size
    return AND(*[z3.Implies(AND(p, v.ok), AND(v.length[k] != bv(0), ult(v.length[k], bv(P + 1))))
                 for k, p in enumerate(_pages(inp))])


def inv_raw(v, m, inp, variant):
    """A stored page of length P went through the as-is path (so it holds the page)."""
    P = inp.page_size
    return AND(*[z3.Implies(AND(p, v.ok, v.length[k] == bv(P)), v.raw[k])
                 for k, p in enumerate(_pages(inp))])


def inv_wb(v, m, inp, variant):
    """A stored page of length P only with writeback enabled."""
    P = inp.page_size
    return AND(*[z3.Implies(AND(p, v.ok, v.length[k] == bv(P)), inp.wb)
                 for k, p in enumerate(_pages(inp))])


def inv_alloc(v, m, inp, variant):
    """No zs_malloc call asks for 0 or more than P bytes."""
    return NOT(v.bad_alloc)


def inv_counters(v, m, inp, variant):
    """The reject-counter half of INV-COUNTERS: a rejected folio moves exactly one, a stored
    one none (the stored-page counters are the model's and the fuzzers' to check)."""
    total = v.counters[COUNTERS[0]] + v.counters[COUNTERS[1]] + v.counters[COUNTERS[2]]
    return z3.If(v.ok, total == bv(0), total == bv(1))


def inv_batch(v, m, inp, variant):
    """Each page's outcome equals the one with every unit compressed alone (batch size 1)."""
    return _same_outcome(v, encode(variant, inp, alone=True), inp)


def spec_statement(prop: str) -> str:
    """The spec's wording of a property ID (spec/zswap-spec.md §5 and §6)."""
    from zswap_spec import spec

    statement = spec.INVARIANTS.get(prop) or spec.EQUIVALENCES.get(prop)
    if statement is None:
        raise KeyError(f"{prop} is neither an invariant nor an equivalence of spec/zswap-spec.md")
    return statement


@dataclass(frozen=True)
class Theorem:
    """One property of the spec, as a Z3 claim over a variant's outcome `v`, mainline's `m`."""

    id: str  # the property's ID in the spec: INV-... or EQV-...
    check: object  # (v, m, inp, variant) -> Z3 Boolean

    @property
    def statement(self) -> str:
        return spec_statement(self.id)


def _catalogue(*theorems: Theorem) -> dict[str, Theorem]:
    out: dict[str, Theorem] = {}
    for t in theorems:
        if t.id in out:
            raise ValueError(f"two theorems claim {t.id}: one theorem per property")
        out[t.id] = t
    return out


# One theorem per property, keyed by the spec's ID.
THEOREMS = _catalogue(
    Theorem("EQV-OUTCOME", eqv_outcome),
    Theorem("EQV-COUNTERS", eqv_counters),
    Theorem("INV-LEN", inv_len),
    Theorem("INV-RAW", inv_raw),
    Theorem("INV-WB", inv_wb),
    Theorem("INV-ALLOC", inv_alloc),
    Theorem("INV-COUNTERS", inv_counters),
    Theorem("INV-BATCH", inv_batch),
)


@dataclass
class Result:
    theorem: str  # the property's ID
    invariant: str  # the same ID (kept: the JSON has always had both fields)
    variant: str
    assumption: str
    page_size: int
    status: str  # proved | counterexample | unknown
    seconds: float
    counterexample: dict | None = None

    def to_json(self) -> dict:
        return dict(self.__dict__)


def _solver() -> z3.Solver:
    s = z3.SolverFor("QF_BV")
    s.set("rlimit", RLIMIT)  # read at call time: tests lower it to see `unknown`
    return s


class _Encoded:
    """One variant's terms for one page size, derived once per folio size, shared by every
    query."""

    def __init__(self, variant: str, page_size: int):
        self.variant = variant
        self.inp = make_inputs(page_size)

    def at(self, n: int) -> Inputs:
        return sizes(self.inp)[n]


def _check(enc: _Encoded, theorem: str, assumption: str, expect: str | None = None) -> Result:
    """One theorem: one query over every folio size, and if that finds a counterexample,
    sizes 1 to 8 in turn for the smallest.  A theorem expected to have a counterexample
    goes to the sizes at once (no size breaking it is then its proof): `expect` orders
    the work, never the answer."""
    t = THEOREMS[theorem]
    started = time.perf_counter()
    status, cex = "counterexample", None
    if expect != "counterexample":
        inp = enc.inp
        s = _solver()
        s.add(domain(inp), _assumed(inp, assumption),
              NOT(t.check(encode(enc.variant, inp), encode("mainline", inp), inp, enc.variant)))
        r = s.check()
        status = "proved" if r == z3.unsat else "unknown" if r != z3.sat else status
    if status == "counterexample":
        status = "proved"
        for n in range(1, MAX_UNITS + 1):
            inp = enc.at(n)
            v, m = encode(enc.variant, inp), encode("mainline", inp)
            s = _solver()
            s.add(inp.n == bv(n), _assumed(inp, assumption), NOT(t.check(v, m, inp, enc.variant)))
            r = s.check()
            if r == z3.unsat:
                continue
            if r == z3.sat:
                _canonical(s, inp, n)
                cex = decode(s.model(), inp, v, m, enc.variant)
                status = "counterexample"
            else:
                status = "unknown"
            break
        if expect != "counterexample" and status == "proved":
            status = "unknown"  # the query over every size found one, no single size did
    return Result(t.id, t.id, enc.variant, assumption, enc.inp.page_size, status,
                  time.perf_counter() - started, cex)


def _assumed(inp: Inputs, assumption: str):
    """The assumption set's term over these inputs, made once."""
    key = ("assumption", assumption)
    if key not in inp.derived:
        inp.derived[key] = z3.simplify(ASSUMPTIONS[assumption](inp))
    return inp.derived[key]


def _canonical(s: z3.Solver, inp: Inputs, n: int) -> None:
    """Pin each input, in a fixed order, to the first plain value that keeps
    the counterexample: the same answer on every run and every machine, and
    values a reader recognises (Z3's own models vary)."""
    P = inp.page_size
    lengths = [100, 0, P, P + 1, u32(-7), u32(-28), u32(-22), 0x8000_0000, P - 1, 1]
    rets = [0, -22, -28, -7, -5, 1]
    order = [(inp.wb, [True, False])]
    order.append((inp.batching, [False, True]))
    order.append((inp.bret, [bv(0), bv(-22), bv(-7), bv(-28)]))
    order.append((inp.sret, [bv(0), bv(-22), bv(-7), bv(-28)]))
    for k in range(n):
        order += [(inp.nomem[k], [False, True]), (inp.ret[k], [bv(r) for r in rets]),
                  (inp.dlen[k], [bv(v) for v in lengths]), (inp.entry[k], [bv(v) for v in lengths])]
    model = s.model()  # the caller's check was sat: a witness of everything pinned so far
    for var, candidates in order:
        for c in candidates:
            pin = var == c
            if z3.is_true(model.eval(pin, model_completion=True)):
                s.add(pin)  # the witness already has it: sat without asking
                break
            s.push()
            s.add(pin)
            if s.check() == z3.sat:
                model = s.model()
                s.pop()
                s.add(pin)
                break
            s.pop()
    s.check()


def prove(theorem: str, variant: str, assumption: str, page_size: int = 4096) -> Result:
    """One theorem (by its property ID) for one variant, assumption set and page size."""
    return _check(_Encoded(variant, page_size), theorem, assumption)


def _val(model, term) -> int:
    return model.eval(term, model_completion=True).as_long()


def _bool(model, term) -> bool:
    return z3.is_true(model.eval(term, model_completion=True))


def _describe_outcome(model, o: Outcome, n: int, page_size: int) -> dict:
    pages = []
    for k in range(n):
        length = _val(model, o.length[k])
        if _bool(model, o.raw[k]):
            pages.append("raw")
        elif length == page_size:
            pages.append("corrupt")
        else:
            pages.append(f"compressed({length})")
    ok = _bool(model, o.ok)
    return {
        "stored": ok,
        "pages": pages if ok else ["rejected"] * n,
        "counters": {c: _val(model, o.counters[c]) for c in COUNTERS if _val(model, o.counters[c])},
        "bad_zs_malloc": _bool(model, o.bad_alloc),
    }


def decode(model, inp: Inputs, v: Outcome, m: Outcome, variant: str) -> dict:
    """A counterexample in C terms, with what mainline and the variant do."""
    n = _val(model, inp.n)
    batching = _bool(model, inp.batching)
    units = []
    for k in range(n):
        unit = {"page": k, "zs_malloc_enomem": _bool(model, inp.nomem[k])}
        if batching:
            e = _val(model, inp.entry[k])
            unit.update({"entry_length": u32(e), "entry_length_as_int": s32(e),
                         "entry_length_c": describe_u32(e)})
        else:
            r, d = s32(_val(model, inp.ret[k])), _val(model, inp.dlen[k])
            unit.update({"ret": r, "ret_c": errno_name(r), "req_dlen": u32(d),
                         "req_dlen_c": describe_u32(d)})
        units.append(unit)
    out = {
        "page_size": inp.page_size,
        "batch_size": n,
        "compressor": "batching" if batching else "software",
        "writeback": _bool(model, inp.wb),
        "units": units,
        "expected": _describe_outcome(model, m, n, inp.page_size),
        "actual": _describe_outcome(model, v, n, inp.page_size),
    }
    if batching:
        b = s32(_val(model, inp.bret))
        out["batch_ret"], out["batch_ret_c"] = b, errno_name(b)
        sub = s32(_val(model, inp.sret))
        out["submit_ret"], out["submit_ret_c"] = sub, errno_name(sub)
    if variant != "mainline":
        alone = encode(variant, inp, alone=True)
        out["alone"] = _describe_outcome(model, alone, n, inp.page_size)
    return out


def vacuity(assumption: str, page_size: int = 4096) -> dict[str, bool]:
    """Is the assumption set satisfiable, with folios both stored and rejected?  Each is
    asked of folio sizes 1 to 8 in turn, until one answers yes (the first, as a rule)."""
    base = make_inputs(page_size)
    out = {}
    for name in ("satisfiable", "a folio can be stored", "a folio can be rejected",
                 "a page can be stored as-is"):
        out[name] = False
        for n in range(1, MAX_UNITS + 1):
            inp = sizes(base)[n]
            m = encode("mainline", inp)
            extra = {"satisfiable": z3.BoolVal(True), "a folio can be stored": m.ok,
                     "a folio can be rejected": NOT(m.ok),
                     "a page can be stored as-is": AND(m.ok, inp.wb, OR(*m.raw[:1]))}[name]
            s = _solver()
            s.add(_assumed(inp, assumption), extra)
            if s.check() == z3.sat:
                out[name] = True
                break
    return out


def _group(args) -> list[Result]:
    """One variant at one page size: every theorem under every assumption set asked.

    Every assumption set restricts the inputs of `any` (the domain and nothing else), so a
    theorem proved under `any` is proved under every set: it is proved once and reported
    for each (seconds 0 where no query ran).  The rest are asked set by set
    (`_check_together`)."""
    page_size, variant, assumptions, theorems, expected, with_vacuity = args
    enc = _Encoded(variant, page_size)
    vac = {(a, page_size): vacuity(a, page_size) for a in assumptions} if with_vacuity else {}
    done: dict[tuple[str, str], Result] = {}
    for a in ([ANY] if ANY in assumptions else []) + [a for a in assumptions if a != ANY]:
        todo = [t for t in theorems if not (a != ANY and (t, ANY) in done
                                            and done[(t, ANY)].status == "proved")]
        for t in theorems:
            if t not in todo:
                done[(t, a)] = replace(done[(t, ANY)], assumption=a, seconds=0.0)
        for r in _check_together(enc, todo, a, expected):
            done[(r.theorem, a)] = r
    return [done[(t, a)] for a in assumptions for t in theorems], vac


def _check_together(enc: _Encoded, theorems: list[str], assumption: str, expected) -> list[Result]:
    """The theorems under one assumption set.  Those expected to be proved are first asked
    in one query, their conjunction (the terms they share are worked on once); if it holds,
    each is proved, else each is asked alone, as the others are (`_check`).  The manifest
    only decides which go together, never an answer."""
    together = [t for t in theorems if expected.get((t, enc.variant, assumption)) == "proved"]
    out: dict[str, Result] = {}
    if len(together) > 1:
        started = time.perf_counter()
        inp = enc.inp
        v, m = encode(enc.variant, inp), encode("mainline", inp)
        s = _solver()
        s.add(domain(inp), _assumed(inp, assumption),
              NOT(AND(*[THEOREMS[t].check(v, m, inp, enc.variant) for t in together])))
        if s.check() == z3.unsat:
            each = (time.perf_counter() - started) / len(together)
            for t in together:
                out[t] = Result(t, t, enc.variant, assumption, inp.page_size, "proved", each)
    for t in theorems:
        if t not in out:
            out[t] = _check(enc, t, assumption, expected.get((t, enc.variant, assumption)))
    return [out[t] for t in theorems]


ANY = "any"  # the assumption set that assumes nothing (`assumptions.any_result`)


def prove_all(variants, assumptions, page_sizes, theorems=None, jobs: int = 1,
              expected: dict | None = None, vacuity_out: dict | None = None) -> list[Result]:
    """Every combination; groups of (page size, variant) run in `jobs` processes.
    `expected` (the manifest's answers) only orders each theorem's queries.  With
    `vacuity_out`, each page size's vacuity checks run in one of its groups and land
    there, by (assumption set, page size), as their groups end.

    An interrupt raises `Interrupted` with the results of the groups done (`done`, in
    the order of a whole run) and the (variant, page size) of the others (`not_done`)."""
    from zswap_spec.support.interrupts import Interrupted

    theorems = list(theorems or THEOREMS)
    groups = [(ps, v, list(assumptions), theorems, dict(expected or {}),
               vacuity_out is not None and v == variants[0]) for ps in page_sizes for v in variants]
    done: dict[int, list[Result]] = {}

    def ended(i, out):
        done[i], vac = out
        if vacuity_out is not None:
            vacuity_out.update(vac)
    try:
        if jobs > 1 and len(groups) > 1:
            _pooled(groups, jobs, ended)
        else:
            for i, g in enumerate(groups):
                ended(i, _group(g))
    except KeyboardInterrupt:
        raise Interrupted([r for i in sorted(done) for r in done[i]],
                          [(g[1], g[0]) for i, g in enumerate(groups) if i not in done]) from None
    return [r for i in range(len(groups)) for r in done[i]]


def _pooled(groups, jobs: int, ended) -> None:
    """The groups over a process pool, each one's results given to `ended` as it ends (an
    interrupt keeps those of every group ended by then).  Mainline's groups go last: they
    are the cheapest (its equivalences are with itself), so they fill the tail."""
    from concurrent.futures import as_completed

    from zswap_spec.support.processes import process_pool

    last = _last_times()
    # Longest first, by the last run's times where known (the answers do not depend on
    # the order); the rest first, mainline's last.
    order = sorted(range(len(groups)), key=lambda i: (
        -last.get(_time_key(groups[i]), 1e9), groups[i][1] == "mainline"))
    times: dict[str, float] = {}
    with process_pool(jobs) as pool:
        futures = {pool.submit(_timed_group, groups[i]): i for i in order}
        taken = set()
        try:
            for f in as_completed(futures):
                out, seconds = f.result()
                times[_time_key(groups[futures[f]])] = seconds
                ended(futures[f], out)
                taken.add(futures[f])
            _keep_times({**last, **times})
        except KeyboardInterrupt:
            for f, i in futures.items():  # ended, but not yet taken by the loop
                if i not in taken and f.done() and not f.cancelled() and f.exception() is None:
                    ended(i, f.result()[0])
            raise


def _timed_group(args):
    started = time.perf_counter()
    out = _group(args)
    return out, time.perf_counter() - started


def _time_key(group) -> str:
    return f"{group[1]}@{group[0]}"


_TIMES = "prove-group-seconds.json"  # in the cache: one number per (variant, page size)


def _last_times() -> dict[str, float]:
    """Each group's seconds in the last run (only to order the work), or nothing."""
    import json

    from zswap_spec.support.cache import cache_dir

    try:
        data = json.loads((cache_dir() / _TIMES).read_text())
        return {str(k): float(v) for k, v in data.items()} if isinstance(data, dict) else {}
    except Exception:  # noqa: BLE001 - a missing or unreadable file orders nothing
        return {}


def _keep_times(times: dict[str, float]) -> None:
    import json

    from zswap_spec.support.cache import cache_dir
    from zswap_spec.support.files import atomic_write

    try:
        atomic_write(cache_dir() / _TIMES, json.dumps(
            {k: round(v, 3) for k, v in sorted(times.items())[:256]}))
    except Exception:  # noqa: BLE001 - ordering is an optimisation: never a failure
        pass
