"""A versioned model registry on local disk or any fsspec URL.

Layout under the registry root::

    <name>/versions/<N>.claim                 exclusive claim of version number N
    <name>/versions/<N>/...                   the artifact's files
    <name>/versions/<N>.json                  registration record, written last
    <name>/aliases/<alias>/history/<N>.json   move number N of the alias (immutable)
    <name>/aliases/<alias>/current.json       a copy of a recent move, where reads start

Version numbers come from exclusive creation of the claim, so concurrent
registrations never share a number; a registration that dies after claiming leaves
a gap, never a half-visible version.

Alias moves are compare-and-swap: move N+1 is written by exclusive creation of
``history/<N+1>.json``, naming as ``from`` the version of move N. Of two concurrent
movers one wins that number and the other reads the winner's move and tries N+2,
so the history is one chain (each move's ``from`` is the previous move's ``to``).
The alias points where its highest-numbered move says; ``current.json`` only saves
readers from listing the history (they read the moves after it, if any).
Registries written before moves were numbered keep their history records
(``<time>-<uuid>.json``, without ``seq``) and ``current.json`` as move 0.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import re
import shutil
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from tunelab._validation import is_int
from tunelab.deploy._artifact import Backend, LoadedModel, load_model
from tunelab.deploy._card import CARD_FILE, ModelCard, utc_now
from tunelab.deploy._checksums import CHECKSUM_FILE, artifact_files, verify_checksums
from tunelab.deploy._errors import ArtifactError, RegistryError
from tunelab.deploy._stores import Store, open_store
from tunelab.logging import get_logger

_logger = get_logger(__name__)

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_CLAIM = re.compile(r"(\d+)\.claim")
_RECORD = re.compile(r"(\d+)\.json")
_RESERVED_ALIASES = frozenset({"latest"})
_MAX_CLAIM_ATTEMPTS = 1000
_MAX_MOVE_ATTEMPTS = 1000


@dataclass(frozen=True)
class AliasMove:
    """One move of an alias.

    Attributes:
        alias: The alias that moved.
        from_version: The version it pointed to before (None when newly created).
        to_version: The version it points to after the move.
        who: ``TUNELAB_USER`` or the login name of whoever moved it.
        when: When it moved (timezone-aware, UTC).
    """

    alias: str
    from_version: int | None
    to_version: int
    who: str
    when: datetime


class Registry:
    """Named models with immutable numbered versions and movable aliases.

    Args:
        url: A local folder, ``file://`` URL or any fsspec URL such as
            ``s3://bucket/prefix`` (needs ``tunelab[cloud]``).
        storage_options: Passed to fsspec (credentials, ``client_kwargs``...).
        cache_dir: Where remote versions are downloaded for loading; defaults to
            ``$TUNELAB_CACHE_DIR`` or ``~/.cache/tunelab/registry``.
    """

    def __init__(
        self,
        url: str | os.PathLike[str] = "./registry",
        *,
        storage_options: dict[str, Any] | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        self._store: Store = open_store(url, storage_options)
        self.url = self._store.url()
        default_cache = os.environ.get("TUNELAB_CACHE_DIR") or "~/.cache/tunelab/registry"
        self._cache_dir = Path(cache_dir or default_cache).expanduser()

    def __repr__(self) -> str:
        return f"Registry({self.url!r})"

    def register(self, name: str, artifact_path: str | os.PathLike[str]) -> int:
        """Copy a verified artifact into the registry as the next version of ``name``.

        Returns:
            The new version number (1 for the first).

        Raises:
            ArtifactError: The artifact fails checksum verification.
            RegistryError: ``name`` is not a valid model name.
        """
        _check_name(name, "name")
        source = Path(artifact_path)
        verify_checksums(source)
        files = [*artifact_files(source), CHECKSUM_FILE]
        version = self._claim_version(name)
        self._store.upload(source, files, f"{name}/versions/{version}")
        self._check_copy(name, version, source, files)
        record = {"version": version, "registered": utc_now(), "who": _who(), "source": str(source)}
        if not self._store.create_exclusive(f"{name}/versions/{version}.json", _dump(record)):
            raise RegistryError(f"version {version} of {name!r} was completed by someone else")
        _logger.info("registered %s version %d in %s", name, version, self.url)
        return version

    def versions(self, name: str) -> list[int]:
        """Registered versions of ``name``, ascending ([] when there are none)."""
        _check_name(name, "name")
        return sorted(_numbers(self._store.children(f"{name}/versions"), _RECORD))

    def models(self) -> list[str]:
        """Names with at least one registered version."""
        names = [item for item in self._store.children("") if _NAME.fullmatch(item)]
        return [name for name in names if self.versions(name)]

    def set_alias(self, name: str, alias: str, version: int) -> None:
        """Point ``alias`` of ``name`` at ``version`` and record the move.

        Raises:
            RegistryError: Bad alias, or ``version`` is not registered.
        """
        _check_name(alias, "alias")
        if alias in _RESERVED_ALIASES or alias.isdigit():
            raise RegistryError(f"alias {alias!r} is reserved; choose another name")
        self._require_version(name, version)
        prefix = f"{name}/aliases/{alias}"
        for _ in range(_MAX_MOVE_ATTEMPTS):
            seq, previous = self._head(prefix)
            move = {
                "alias": alias,
                "seq": seq + 1,
                "from": previous,
                "to": version,
                "who": _who(),
                "when": utc_now(),
            }
            if self._store.create_exclusive(_move_key(prefix, seq + 1), _dump(move)):
                self._store.write(f"{prefix}/current.json", _dump(move))
                return
        raise RegistryError(
            f"could not move alias {alias!r} of {name!r}: {_MAX_MOVE_ATTEMPTS} concurrent "
            "moves won the race first"
        )

    def get_alias(self, name: str, alias: str) -> int | None:
        """The version ``alias`` points to, or None when it was never set."""
        _check_name(name, "name")
        _check_name(alias, "alias")
        return self._head(f"{name}/aliases/{alias}")[1]

    def _head(self, prefix: str) -> tuple[int, int | None]:
        """The number and target of the alias's latest move ((0, None) before any)."""
        try:
            current = json.loads(self._store.read(f"{prefix}/current.json"))
        except FileNotFoundError:
            seq, version = 0, None
        else:
            seq, version = int(current.get("seq", 0)), int(current["to"])
        # current.json may lag: a slower mover can write its older move there last.
        while True:
            try:
                move = json.loads(self._store.read(_move_key(prefix, seq + 1)))
            except FileNotFoundError:
                return seq, version
            seq, version = seq + 1, int(move["to"])

    def aliases(self, name: str) -> dict[str, int]:
        """Every alias of ``name`` and the version it points to."""
        found = {}
        for alias in self._store.children(f"{name}/aliases"):
            version = self.get_alias(name, alias) if _NAME.fullmatch(alias) else None
            if version is not None:
                found[alias] = version
        return found

    def alias_history(self, name: str, alias: str | None = None) -> list[AliasMove]:
        """Every recorded move of the aliases of ``name`` (or of one alias), oldest first."""
        _check_name(name, "name")
        if alias is not None:
            _check_name(alias, "alias")
        names = [alias] if alias is not None else self._store.children(f"{name}/aliases")
        records = []
        for each in names:
            prefix = f"{name}/aliases/{each}/history"
            for item in self._store.children(prefix):
                if item.endswith(".json"):
                    records.append(json.loads(self._store.read(f"{prefix}/{item}")))
        # Within one alias the move number orders moves exactly; clocks may disagree.
        records.sort(key=lambda record: (record["alias"], record.get("seq", 0), record["when"]))
        moves = [_move(record) for record in records]
        return sorted(moves, key=lambda move: move.when) if alias is None else moves

    def alias_at(self, name: str, alias: str, when: datetime) -> int | None:
        """The version ``alias`` pointed to at ``when`` (None if it did not exist yet).

        Raises:
            ValueError: ``when`` has no timezone.
        """
        if when.tzinfo is None:
            raise ValueError("when must be timezone-aware, e.g. datetime.now(timezone.utc)")
        version = None
        for move in self.alias_history(name, alias):
            if move.when > when:
                break
            version = move.to_version
        return version

    def resolve(self, ref: str) -> tuple[str, int]:
        """Turn ``name@alias``, ``name:3`` or ``name`` (latest) into (name, version).

        Raises:
            RegistryError: Malformed reference, or unknown name, alias or version.
        """
        name, alias, number = _parse_ref(ref)
        if alias is not None:
            version = self.get_alias(name, alias)
            if version is None:
                known = sorted(self.aliases(name))
                raise RegistryError(f"{name!r} has no alias {alias!r} (aliases: {known})")
            return name, version
        if number is not None:
            self._require_version(name, number)
            return name, number
        versions = self.versions(name)
        if not versions:
            raise RegistryError(f"no model named {name!r} in {self.url}")
        return name, versions[-1]

    def card(self, ref: str) -> ModelCard:
        """The model card of ``name@alias``, ``name:3`` or ``name`` (latest), model not loaded.

        Only the card is read (nothing downloaded, checksums not verified), so any
        format, a pickle included, can be described without trusting or unpickling it.

        Raises:
            RegistryError: Malformed reference, or unknown name, alias or version.
            ArtifactError: The version's card is missing, unreadable or malformed.
        """
        name, version = self.resolve(ref)
        where = self._store.url(f"{name}/versions/{version}/{CARD_FILE}")
        try:
            return ModelCard.from_dict(
                json.loads(self._store.read(f"{name}/versions/{version}/{CARD_FILE}"))
            )
        except ArtifactError as exc:
            raise ArtifactError(f"{where}: {exc}") from None
        except (OSError, KeyError, TypeError, ValueError) as exc:
            raise ArtifactError(f"{where} is unreadable or malformed: {exc!r}") from exc

    def load(
        self,
        ref: str,
        *,
        trusted: list[str] | None = None,
        allow_pickle: bool = False,
        backend: Backend = "auto",
    ) -> LoadedModel:
        """Load ``name@alias``, ``name:3`` or ``name`` (latest) as a :class:`LoadedModel`.

        Remote versions are downloaded to the cache first; checksums are verified on
        every load, and a corrupted cached copy is downloaded again.
        """
        name, version = self.resolve(ref)
        key = f"{name}/versions/{version}"
        options: dict[str, Any] = {
            "trusted": trusted,
            "allow_pickle": allow_pickle,
            "backend": backend,
        }
        local = self._store.local_path(key)
        if local is not None:
            return load_model(local, **options)
        cached = self._cache_path(name, version)
        if cached.exists():
            try:
                return load_model(cached, **options)
            except ArtifactError as exc:
                _logger.warning("cached copy %s is unusable (%s); downloading again", cached, exc)
                shutil.rmtree(cached, ignore_errors=True)
        self._download(key, cached)
        return load_model(cached, **options)

    def _claim_version(self, name: str) -> int:
        claims = _numbers(self._store.children(f"{name}/versions"), _CLAIM)
        version = max(claims, default=0) + 1
        token = _dump({"token": uuid.uuid4().hex, "who": _who(), "when": utc_now()})
        for _ in range(_MAX_CLAIM_ATTEMPTS):
            if self._store.create_exclusive(f"{name}/versions/{version}.claim", token):
                return version
            version += 1
        raise RegistryError(
            f"could not claim a version of {name!r} after {_MAX_CLAIM_ATTEMPTS} attempts"
        )

    def _check_copy(self, name: str, version: int, source: Path, files: list[str]) -> None:
        key = f"{name}/versions/{version}"
        local = self._store.local_path(key)
        if local is not None:
            verify_checksums(local)
            return
        copied = set(self._store.children(key))
        top_level = {file.split("/", 1)[0] for file in files}
        if not top_level <= copied:
            raise RegistryError(
                f"upload of {source} to {self._store.url(key)} is incomplete: "
                f"missing {sorted(top_level - copied)}"
            )

    def _require_version(self, name: str, version: int) -> None:
        if not is_int(version) or version < 1:
            raise RegistryError(f"version must be a positive integer, got {version!r}")
        if version not in self.versions(name):
            raise RegistryError(
                f"{name!r} has no version {version} (versions: {self.versions(name)})"
            )

    def _cache_path(self, name: str, version: int) -> Path:
        digest = hashlib.sha256(self.url.encode()).hexdigest()[:16]
        return self._cache_dir / digest / name / str(version)

    def _download(self, key: str, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.with_name(f".{target.name}.tmp-{uuid.uuid4().hex}")
        try:
            self._store.download(key, staging)
            os.rename(staging, target)
        except OSError:
            # Another process may have filled the cache first; its copy is verified on load.
            shutil.rmtree(staging, ignore_errors=True)
            if not target.exists():
                raise


def _move_key(prefix: str, seq: int) -> str:
    return f"{prefix}/history/{seq:012d}.json"


def _parse_ref(ref: str) -> tuple[str, str | None, int | None]:
    if "@" in ref:
        name, alias = ref.split("@", 1)
        _check_name(name, "name")
        _check_name(alias, "alias")
        return name, alias, None
    if ":" in ref:
        name, number = ref.split(":", 1)
        _check_name(name, "name")
        if not number.isdigit():
            raise RegistryError(f"version in {ref!r} must be a positive integer")
        return name, None, int(number)
    _check_name(ref, "name")
    return ref, None, None


def _check_name(value: str, what: str) -> None:
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise RegistryError(
            f"{what} must be 1-128 letters, digits, '.', '_' or '-' starting with a letter "
            f"or digit, got {value!r}"
        )


def _numbers(names: list[str], pattern: re.Pattern[str]) -> list[int]:
    return [int(match.group(1)) for item in names if (match := pattern.fullmatch(item))]


def _who() -> str:
    user = os.environ.get("TUNELAB_USER")
    if user:
        return user
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _dump(record: dict[str, Any]) -> bytes:
    return json.dumps(record, sort_keys=True).encode("utf-8")


def _move(record: dict[str, Any]) -> AliasMove:
    return AliasMove(
        alias=record["alias"],
        from_version=record["from"],
        to_version=int(record["to"]),
        who=record["who"],
        when=datetime.fromisoformat(record["when"]),
    )
