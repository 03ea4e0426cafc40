"""Stateful fuzzing: Hypothesis state machines driving the model's variants
with real compressors that misbehave on command (`zswap_spec.model.faults`),
campaigns in worker processes, and saved findings."""
