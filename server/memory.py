"""Process-wide allocator settings for `bookingcal serve` and `bookingcal bridge`.

glibc gives each thread that allocates a lot its own malloc arena and keeps freed memory in it:
after large answers on each of waitress's threads, a process holds several times what one
answer needs (1.7 GB after eight sequential 100k-item PROPFINDs with 8 threads). Two arenas keep
that bounded at little cost in contention (the bridge works connections on 4 threads). Set before any thread exists (the arenas of running
threads are not given back); `Environment=MALLOC_ARENA_MAX=2` in the systemd units does the same
from the outside."""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)
M_ARENA_MAX = -8  # glibc's <malloc.h>
ARENAS = 2


def limit_malloc_arenas(arenas: int = ARENAS) -> bool:
    """Ask glibc for at most `arenas` malloc arenas; False where that is not glibc."""
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    done = bool(mallopt(M_ARENA_MAX, arenas))
    if not done:
        log.info("mallopt(M_ARENA_MAX) refused; malloc arenas are not limited")
    return done
