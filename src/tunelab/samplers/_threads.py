"""Run the GP's linear algebra on one BLAS thread.

Its matrices are small (one row per trial): a multi-threaded BLAS spends
more time waking and synchronising threads than computing, and on a busy
machine each call can wait milliseconds for a core. One thread is faster
at every size a study reaches.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

_lock = threading.Lock()
_controller: Any = None


@contextlib.contextmanager
def single_blas_thread() -> Iterator[None]:
    """Limit BLAS to one thread inside the block (a no-op without threadpoolctl)."""
    global _controller
    with _lock:
        if _controller is None:
            try:
                from threadpoolctl import ThreadpoolController
            except ImportError:  # scikit-learn ships it; tolerate its absence all the same
                _controller = False
            else:
                _controller = ThreadpoolController()
    if _controller is False:
        yield
        return
    with _controller.limit(limits=1, user_api="blas"):
        yield
