"""Building tens of thousands of small report rows at a time."""
import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def without_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector: report rows hold no cycles (reference counting
    frees them), and its passes over a growing heap of them double the time to build them."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()
