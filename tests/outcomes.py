"""Drive one variant with scripted compressor results and describe the outcome
in the words of the spec's decision tables (the package's own words:
`zswap_spec.model.outcome_words`)."""

from zswap_spec.model.outcome_words import store_and_describe  # noqa: F401
