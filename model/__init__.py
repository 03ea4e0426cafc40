"""The reference model of zswap's compression path and the acomp batch contract.

Read it beside the kernel sources: functions carry the kernel's names and cite
the code they transcribe.  The public surface is re-exported from
``zswap_spec``.
"""
