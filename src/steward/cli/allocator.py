"""The C allocator's settings for one-shot commands: freed memory is kept for reuse instead of
being handed back to the system after every large numpy temporary.

glibc serves blocks above a size threshold (128 KiB to start, moved up as blocks are freed) with
fresh ``mmap`` pages, and returns free memory at the top of the heap beyond twice that threshold.
The metrics of an evaluation allocate many temporaries of a few hundred KiB to a few MiB (one
per array operation on 1,000 bootstrap replicates), so by default many of them are fresh pages
that the kernel has to map and zero (4,000-15,000 page faults per evaluation's metrics; average
precision on a subgroup's replicates took three times as long). Fixing both thresholds keeps
that memory in the process until the command exits. Only the `steward` executable's evaluation
does this; long-running processes (the server) keep glibc's defaults. Elsewhere (macOS, musl)
it does nothing.
"""

from __future__ import annotations

import ctypes
import sys

#: mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
#: Blocks below this come from the heap (glibc's largest allowed value on 64-bit systems).
MMAP_THRESHOLD = 32 * 2**20
#: Free memory at the top of the heap kept before any is returned to the system.
TRIM_THRESHOLD = 256 * 2**20


def keep_freed_memory() -> bool:
    """Ask glibc to reuse freed memory rather than map fresh pages; whether it was applied."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library the interpreter runs on
    except (OSError, AttributeError):  # not glibc
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
