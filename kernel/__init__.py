"""Checking the model against real Linux kernels booted under qemu.

`tree` describes an unpacked kernel (image, modules, config); `fetch` gets
Debian's kernels; `guest` builds the initramfs and boots it; `kcomp` and its
steps `kcomp_extract`, `kcomp_plan`, `kcomp_build` and `kcomp_load` build a
kernel's own compressors for the model; `logparse` reads the guest's serial
log; `compare` predicts the same run with the model and reports every
disagreement.
"""
