"""Byte stores under a registry root: a local folder, or any fsspec filesystem.

The registry needs four guarantees from a store: whole-object reads, atomic
replacement of small objects, *exclusive creation* (exactly one of several
concurrent creators of a key succeeds, and nobody sees the key before its bytes) and
recursive upload/download. Local disk gets exclusive creation from a hard link of a
finished file (``O_CREAT | O_EXCL`` where links are not supported); S3 from a conditional PUT
(``If-None-Match: *``). Other fsspec filesystems fall back to check, write, wait and
read back, which is best effort.
"""

from __future__ import annotations

import errno
import os
import shutil
import time
import uuid
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

from tunelab._imports import optional_import

_ATOMIC_CREATE_PROTOCOLS = frozenset({"s3", "s3a"})
# Filesystems without hard links answer link() with these.
_NO_LINKS = frozenset({errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV})
# How long a best-effort claim waits before reading back, so that a rival who
# checked before our write has landed theirs by then.
_SETTLE_SECONDS = 0.2


class Store(ABC):
    """Keys are relative POSIX paths under the store's root."""

    @abstractmethod
    def url(self, key: str = "") -> str:
        """Where ``key`` lives, for messages."""

    @abstractmethod
    def read(self, key: str) -> bytes:
        """The bytes of ``key``; raises FileNotFoundError when absent."""

    @abstractmethod
    def write(self, key: str, data: bytes) -> None:
        """Create or replace ``key`` atomically: readers see the old or new bytes."""

    @abstractmethod
    def create_exclusive(self, key: str, data: bytes) -> bool:
        """Create ``key`` only if absent; True when this call created it."""

    @abstractmethod
    def children(self, key: str) -> list[str]:
        """Names directly under ``key`` (files and folders), [] when absent."""

    @abstractmethod
    def upload(self, source: Path, files: list[str], key: str) -> None:
        """Copy ``files`` (relative to ``source``) under ``key``."""

    @abstractmethod
    def download(self, key: str, target: Path) -> None:
        """Copy every file under ``key`` into the local folder ``target``."""

    def local_path(self, key: str) -> Path | None:
        """A local path for ``key`` when the store is local disk, else None."""
        return None


class LocalStore(Store):
    """A folder on local disk."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def url(self, key: str = "") -> str:
        return str(self.root / key)

    def read(self, key: str) -> bytes:
        return (self.root / key).read_bytes()

    def write(self, key: str, data: bytes) -> None:
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex}")
        try:
            with temporary.open("wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise

    def create_exclusive(self, key: str, data: bytes) -> bool:
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written aside and hard-linked into place: the link fails if the key exists,
        # and a reader never sees the key created but still empty.
        temporary = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex}")
        try:
            with temporary.open("wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.link(temporary, path)
        except FileExistsError:
            return False
        except OSError as exc:
            if exc.errno not in _NO_LINKS:
                raise
            return _create_excl(path, data)
        finally:
            temporary.unlink(missing_ok=True)
        return True

    def children(self, key: str) -> list[str]:
        try:
            return sorted(os.listdir(self.root / key))
        except (FileNotFoundError, NotADirectoryError):
            return []

    def upload(self, source: Path, files: list[str], key: str) -> None:
        target = self.root / key
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.with_name(f".{target.name}.tmp-{uuid.uuid4().hex}")
        try:
            for name in files:
                destination = staging / name
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source / name, destination)
            # The copy appears all at once, never half-written.
            os.rename(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise

    def download(self, key: str, target: Path) -> None:
        shutil.copytree(self.root / key, target)

    def local_path(self, key: str) -> Path | None:
        return self.root / key


def _create_excl(path: Path, data: bytes) -> bool:
    """Exclusive creation without links; a reader may briefly see the file empty."""
    try:
        descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    return True


class FsspecStore(Store):
    """Any fsspec filesystem (``s3://``, ``gs://``, ``memory://``...)."""

    def __init__(self, fs: Any, root: str) -> None:
        self.fs = fs
        self.root = root.rstrip("/")
        protocols = fs.protocol if isinstance(fs.protocol, tuple | list) else (fs.protocol,)
        self.atomic_create = bool(_ATOMIC_CREATE_PROTOCOLS & set(protocols))

    def _path(self, key: str) -> str:
        return f"{self.root}/{key}" if key else self.root

    def url(self, key: str = "") -> str:
        return self.fs.unstrip_protocol(self._path(key))

    def read(self, key: str) -> bytes:
        return bytes(self.fs.cat_file(self._path(key)))

    def write(self, key: str, data: bytes) -> None:
        # A single PUT replaces an object atomically on object stores.
        self.fs.pipe_file(self._path(key), data)

    def create_exclusive(self, key: str, data: bytes) -> bool:
        path = self._path(key)
        if self.atomic_create:
            try:
                self.fs.pipe_file(path, data, mode="create")
            except FileExistsError:
                return False
            except OSError as exc:
                # S3 answers 409 when a rival's conditional PUT is still in flight.
                if "ConditionalRequestConflict" in str(exc) or "PreconditionFailed" in str(exc):
                    return False
                raise
        else:
            self.fs.invalidate_cache(path)
            if self.fs.exists(path):
                return False
            self.fs.pipe_file(path, data)
            time.sleep(_SETTLE_SECONDS)
        # Read-after-write: the bytes must be ours, not a rival's who raced us.
        self.fs.invalidate_cache(path)
        return self.read(key) == data

    def children(self, key: str) -> list[str]:
        path = self._path(key)
        self.fs.invalidate_cache(path)
        try:
            entries = self.fs.ls(path, detail=False)
        except FileNotFoundError:
            return []
        return sorted({entry.rstrip("/").rsplit("/", 1)[-1] for entry in entries})

    def upload(self, source: Path, files: list[str], key: str) -> None:
        for name in files:
            self.fs.put_file(str(source / name), self._path(f"{key}/{name}"))

    def download(self, key: str, target: Path) -> None:
        prefix = self._path(key)
        self.fs.invalidate_cache(prefix)
        for remote in self.fs.find(prefix):
            if not remote.startswith(prefix + "/"):
                continue
            relative = remote[len(prefix) + 1 :]
            local = target / relative
            local.parent.mkdir(parents=True, exist_ok=True)
            self.fs.get_file(remote, str(local))


def open_store(url: str | os.PathLike[str], storage_options: dict[str, Any] | None) -> Store:
    """The store for a registry URL: a local folder, ``file://`` URL or fsspec URL.

    Raises:
        ImportError: A remote URL without the ``cloud`` extra installed.
    """
    text = os.fspath(url)
    if "://" not in text or text.startswith("file://"):
        return LocalStore(Path(text.removeprefix("file://")).expanduser().absolute())
    fsspec = optional_import("fsspec", extra="cloud", purpose=f"registry URL {text!r}")
    try:
        fs, root = fsspec.core.url_to_fs(text, **(storage_options or {}))
    except ImportError as exc:  # the URL's filesystem driver (s3fs, gcsfs...) is missing
        raise ImportError(
            f"registry URL {text!r} needs its filesystem driver ({exc}): "
            "pip install 'tunelab[cloud]' (S3) or 'tunelab[gcs]'"
        ) from exc
    return FsspecStore(fs, root)
