"""`python -m zswap_spec` is the `zswap-spec` command."""

from zswap_spec.cli import main

main()
