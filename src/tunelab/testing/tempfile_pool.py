"""Temporary files that outlive the storages opened on them (``optuna.testing.tempfile_pool``).

A SQLite or journal storage may keep its file open after a test's ``with`` block
(an engine in a cache, a lock file); on Windows such a file cannot be deleted
then. :class:`NamedTemporaryFilePool` hands out named files and deletes them
all when the interpreter exits instead.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import tempfile
import threading
from types import TracebackType
from typing import IO, Any, ClassVar


class NamedTemporaryFilePool:
    """A named temporary file, closed on leaving the block and deleted at exit.

    Args:
        **kwargs: Passed to :func:`tempfile.NamedTemporaryFile` (``suffix``,
            ``mode``, ``dir``...); ``delete`` is always False.
    """

    _lock: ClassVar[threading.Lock] = threading.Lock()
    _paths: ClassVar[list[str]] = []
    _registered: ClassVar[bool] = False

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs
        self._file: IO[Any] | None = None
        with NamedTemporaryFilePool._lock:
            if not NamedTemporaryFilePool._registered:
                atexit.register(NamedTemporaryFilePool.cleanup)
                NamedTemporaryFilePool._registered = True

    def tempfile(self) -> IO[Any]:
        """Create the file and return it open; its ``name`` is the path."""
        self._file = tempfile.NamedTemporaryFile(delete=False, **self.kwargs)  # noqa: SIM115
        with NamedTemporaryFilePool._lock:
            NamedTemporaryFilePool._paths.append(self._file.name)
        return self._file

    def __enter__(self) -> IO[Any]:
        return self.tempfile()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._file is not None:
            self._file.close()

    @classmethod
    def cleanup(cls) -> None:
        """Delete every file handed out so far (where the OS lets an open one go)."""
        with cls._lock:
            paths, cls._paths = cls._paths, []
        for path in paths:
            with contextlib.suppress(FileNotFoundError, PermissionError):
                os.unlink(path)
