"""The kernel fuzzer's machinery without a kernel: a stand-in guest that answers
with the model's own figures (offset, as a long-running kernel's cumulative
counters are) runs every generated script without a disagreement, and the
same stand-in with one planted difference is caught, shrunk to a short
script and saved as a reproducer that shows the difference again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from zswap_spec.kernel.kfuzz import Campaign, run_campaign
from zswap_spec.kernel.script import Corpus, Script, Step, load_script, parse_agent_line
from zswap_spec.kernel.script_model import NotModelled, ScriptModel
from zswap_spec.kernel.script_run import ScriptRunner, compare_records, next_cursor, normalize
from zswap_spec.model.compressors import ALGORITHMS

TOTALRAM = 60000
OFFSET = 1000  # what the counters held before the script: a reset does not zero them


@pytest.fixture(scope="module")
def corpus():
    return Corpus.build({"lz4": ALGORITHMS["lz4"], "zstd": ALGORITHMS["zstd"]}, per_kind=8)


class StandIn:
    """A guest whose answers are the model's; `plant(step, record)` may alter them."""

    boot_seconds = last_boot_seconds = 0.0
    totalram_pages = TOTALRAM
    serial_log = None

    def __init__(self, corpus, plant=None):
        self.corpus, self.plant = corpus, plant
        self.layouts = {}

    def reset(self, compressor):
        # As a kernel does, the shrink worker's cursor survives the reset
        # (where the reset's removal of cgroups leaves it: next_cursor).
        cursor = next_cursor(self.model) if hasattr(self, "model") else "none"
        self.model = _model(self.corpus, compressor, cursor)
        self.layouts = {}
        self.steps = []
        return self._raw(self.model.start_record())

    def step(self, line):
        fields = parse_agent_line(line)
        op = fields.pop("op")
        if op == "flush":  # the agent's exact re-read: nothing happens in zswap
            op = "settle"
        if op in ("mkcg", "enter", "cgset", "reclaim"):
            fields["path"] = fields["path"].strip("/")
        step = Step(op, fields)
        self.steps.append(step)
        if op == "store" and "pages" in fields:
            self.layouts[fields["region"]] = f"{fields['pages'] // fields['folio_pages']}x" \
                                             f"{fields['folio_pages']}"
        try:
            record = self.model.step(step)
        except NotModelled:  # the model is unchanged: answer with its state as it is
            record = self.model.step(Step("settle", {}))
        if self.plant is not None:
            record = self.plant(self.steps, json.loads(json.dumps(record)))
        return self._raw(record)

    def _raw(self, rec):
        counter = {k: v + (0 if k in ("pool_total_size", "stored_pages",
                                      "stored_incompressible_pages") else OFFSET)
                   for k, v in rec["counter"].items()}
        memcg = {p: dict(v) for p, v in rec["memcg"].items()}
        for k in ("zswpin", "zswpout", "zswpwb"):
            memcg["/"][k] += OFFSET
        runs = rec["worker"]["shrink_worker_runs"] + OFFSET
        regions = {n: {**r, "bad": 0, "layout": self.layouts.get(n)}
                   for n, r in rec["regions"].items()}
        return {"counter": counter, "vmstat": {k: v + OFFSET for k, v in rec["vmstat"].items()},
                "memcg": memcg, "regions": regions, "worker": {"queued": runs, "ended": runs},
                "ret": 0, "errors": []}

    def close(self):
        pass


def _model(corpus, compressor, cursor):
    return ScriptModel(compressor=compressor, algorithms=dict(ALGORITHMS),
                       total_ram_pages=TOTALRAM, corpus=corpus, base=Path.cwd(),
                       start_cursor=cursor)


def _setup(corpus, plant=None):
    def setup():
        return (lambda: StandIn(corpus, plant),
                lambda script, cursor: _model(corpus, script.compressor, cursor), True, corpus)
    return setup


def test_normalize_takes_cumulative_values_from_the_reset():
    base = {"counter": {"stored_pages": 0, "written_back_pages": 7}, "vmstat": {"zswpout": 5},
            "memcg": {"/": {"zswpout": 3, "zswap": 0}}, "worker": {"ended": 2, "queued": 2}}
    raw = {"counter": {"stored_pages": 4, "written_back_pages": 9}, "vmstat": {"zswpout": 9},
           "memcg": {"/": {"zswpout": 7, "zswap": 100}, "/a": {"zswpout": 4}},
           "worker": {"ended": 3, "queued": 4}, "regions": {}}
    rec = normalize(raw, base)
    assert rec["counter"] == {"stored_pages": 4, "written_back_pages": 2}
    assert rec["vmstat"] == {"zswpout": 4}
    assert rec["memcg"] == {"/": {"zswpout": 4, "zswap": 100}, "/a": {"zswpout": 4}}
    assert rec["worker"] == {"shrink_worker_runs": 1} and rec["pending"] == 1


def test_compare_names_field_cgroup_and_both_values():
    k = {"counter": {"stored_pages": 3}, "memcg": {"/a": {"zswpout": 2}}, "regions": {}}
    m = {"counter": {"stored_pages": 3}, "memcg": {"/a": {"zswpout": 3}}, "regions": {}}
    (d,) = compare_records(4, "store", k, m, exact_sizes=True)
    assert (d.step, d.op, d.field, d.cgroup, d.kernel, d.model) == (4, "store", "memcg.zswpout",
                                                                   "/a", 2, 3)
    assert compare_records(4, "store", k, k, exact_sizes=True) == []


def test_a_guest_that_is_the_model_agrees_on_every_generated_script(corpus, tmp_path):
    c = Campaign("stand-in", "lz4", ["lz4", "zstd"], budget=25, seed=7, findings=tmp_path,
                 steps_per_script=12)
    run = run_campaign(c, _setup(corpus))
    assert run.error is None, run.error
    assert run.disagreements == [] and run.guest_failures == []
    assert run.scripts >= 4 and run.steps >= 20, run.to_json()
    print(f"stand-in campaign: {run.scripts} scripts, {run.steps} steps, ops {dict(run.ops)}")


def _child_bug(steps, record):
    """A planted kernel bug: stores from a cgroup below the root count one
    zswpout too few in that cgroup's memory.stat."""
    entered = [s for s in steps if s.op == "enter"]
    where = entered[-1].args["path"] if entered else ""
    if where and any(s.op == "store" for s in steps):
        cg = record["memcg"].get("/" + where)
        if cg and cg["zswpout"] > 0:
            cg["zswpout"] -= 1
    return record


def test_a_planted_difference_is_found_shrunk_and_saved(corpus, tmp_path):
    # Unfocused: the focus's pool-filling stores are slow on the stand-in's
    # Python model, and shrinking is what this test is about.
    c = Campaign("stand-in", "lz4", ["lz4"], budget=90, seed=3, findings=tmp_path,
                 steps_per_script=16, focus=False)
    run = run_campaign(c, _setup(corpus, _child_bug))
    assert run.disagreements, run.to_json()
    d = run.disagreements[0]
    assert d["field"] == "memcg.zswpout" and d["cgroup"] != "/"
    script = load_script(Path(d["reproducer"]))
    # The smallest script showing it: mkcg, enter, one store; a little slack
    # for what the shrinker could not remove within its budget.
    assert len(script.steps) <= 6, [s.op for s in script.steps]
    # The reproducer shows the difference again, and the model alone does not.
    runner = ScriptRunner(StandIn(corpus, _child_bug),
                          lambda s, cur: _model(corpus, s.compressor, cur), exact_sizes=True)
    assert not runner.run(script).agree
    runner = ScriptRunner(StandIn(corpus), lambda s, cur: _model(corpus, s.compressor, cur),
                          exact_sizes=True)
    assert runner.run(script).agree
    saved = json.loads((Path(d["reproducer"]).parent / "disagreements.json").read_text())
    assert saved["disagreements"][0]["field"] == "memcg.zswpout"


class Panicking(StandIn):
    """A stand-in guest that dies on its 25th step (once per campaign)."""

    died = False

    def step(self, line):
        self.count = getattr(self, "count", 0) + 1
        if self.count == 25 and not Panicking.died:
            Panicking.died = True
            from zswap_spec.kernel.session import GuestDied

            raise GuestDied(f"the guest panicked while running {line!r} (serial log kept)")
        return super().step(line)


def test_a_guest_that_dies_is_reported_and_the_campaign_goes_on(corpus, tmp_path):
    Panicking.died = False
    boots = []

    def setup():
        def start():
            boots.append(1)
            return Panicking(corpus)
        return start, lambda script, cursor: _model(corpus, script.compressor, cursor), True, \
            corpus

    c = Campaign("stand-in", "lz4", ["lz4"], budget=20, seed=5, findings=tmp_path,
                 steps_per_script=12)
    run = run_campaign(c, setup)
    assert len(run.guest_failures) == 1, run.to_json()
    failure = run.guest_failures[0]
    assert "panicked while running" in failure["error"] and failure["step"] >= 1 and failure["op"]
    # The script it was running is saved, up to the step that killed the guest.
    script = load_script(Path(failure["reproducer"]))
    assert 1 <= len(script.steps) <= 12
    assert len(boots) == run.boots == 2 and run.steps > 25  # a fresh guest, and more steps
    assert run.disagreements == [] and run.error is None


class Unpredictable:
    """The model, refusing every `free` as a step it cannot predict."""

    def __init__(self, model):
        self.model, self.zs = model, model.zs

    def start_record(self):
        return self.model.start_record()

    def step(self, step):
        if step.op == "free":
            raise NotModelled(0, "free", "refused for the test")
        return self.model.step(step)


def test_scripts_the_model_cannot_finish_are_counted_and_the_campaign_goes_on(corpus, tmp_path):
    def setup():
        return (lambda: StandIn(corpus),
                lambda script, cursor: Unpredictable(_model(corpus, script.compressor, cursor)),
                True, corpus)

    c = Campaign("stand-in", "lz4", ["lz4"], budget=20, seed=9, findings=tmp_path,
                 steps_per_script=16)
    run = run_campaign(c, setup)
    assert run.error is None, run.error
    assert run.not_compared >= 1 and run.disagreements == []
    assert any("refused for the test" in why for why in run.not_compared_why)


def test_a_worker_run_the_model_did_not_predict_makes_the_next_script_boot_afresh(corpus):
    """The kernel ran a step the model refused, and its shrink worker ran in it:
    the cursor is unknown, so the runner asks for a fresh guest."""
    from zswap_spec.kernel.script import parse_script

    class Refusing(Unpredictable):
        def step(self, step):
            if step.op == "store" and step.args.get("pages", 0) > 600:
                raise NotModelled(0, "store", "refused for the test")
            return self.model.step(step)

    script = parse_script("""
format = "zswap-spec-script/1"
[[step]]
op = "param"
name = "max_pool_percent"
value = 1
[[step]]
op = "store"
region = "big"
pages = 768
content = "mostly-random"
""")
    runner = ScriptRunner(StandIn(corpus),
                          lambda s, cur: Refusing(_model(corpus, s.compressor, cur)),
                          exact_sizes=True)
    result = runner.run(script)
    assert result.not_compared and runner.needs_fresh_guest
    runner.restart(StandIn(corpus))
    assert not runner.needs_fresh_guest and runner.cursor == "none"


def test_an_error_inside_hypothesis_engine_is_told_from_one_of_the_machine():
    """The campaign goes on past an error of Hypothesis's own engine (its target
    optimiser indexes past a shortened example now and then) but stops on ours."""
    from hypothesis.internal.conjecture.junkdrawer import LazySequenceCopy

    from zswap_spec.kernel.kfuzz import _engine_fault

    try:
        LazySequenceCopy([1, 2])[7]
    except IndexError as e:
        assert _engine_fault(e)
    else:
        raise AssertionError("no IndexError")
    try:
        [1, 2][7]
    except IndexError as e:
        assert not _engine_fault(e)
