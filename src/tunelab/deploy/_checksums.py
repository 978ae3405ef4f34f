"""SHA-256 checksums of every file in an artifact, in ``sha256sum`` format.

The file ``checksums.sha256`` holds one ``<hex digest>  <relative path>`` line per
file, so ``sha256sum -c checksums.sha256`` run inside the artifact checks it too.
"""

from __future__ import annotations

import hashlib
from pathlib import Path, PurePosixPath

from tunelab.deploy._errors import ArtifactError

CHECKSUM_FILE = "checksums.sha256"
_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    """Hex SHA-256 digest of a file, read in chunks so large models fit in memory."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def artifact_files(directory: Path) -> list[str]:
    """Relative POSIX paths of every file under ``directory`` except the checksum file.

    Raises:
        ArtifactError: The directory holds a symbolic link or something that is not a
            regular file (either could make the checksums describe other bytes).
    """
    names = []
    for path in sorted(directory.rglob("*")):
        relative = path.relative_to(directory).as_posix()
        if path.is_symlink():
            raise ArtifactError(f"artifact {directory}: {relative} is a symbolic link")
        if path.is_dir():
            continue
        if not path.is_file():
            raise ArtifactError(f"artifact {directory}: {relative} is not a regular file")
        if relative != CHECKSUM_FILE:
            names.append(relative)
    return names


def write_checksums(directory: Path) -> dict[str, str]:
    """Hash every file of ``directory`` and write ``checksums.sha256``.

    Returns:
        Relative path to hex digest.
    """
    digests = {name: sha256_file(directory / name) for name in artifact_files(directory)}
    lines = "".join(f"{digest}  {name}\n" for name, digest in digests.items())
    (directory / CHECKSUM_FILE).write_text(lines, encoding="utf-8")
    return digests


def read_checksums(directory: Path) -> dict[str, str]:
    """Parse ``checksums.sha256`` of ``directory``.

    Raises:
        ArtifactError: The file is missing, malformed or names a path outside the
            artifact.
    """
    path = directory / CHECKSUM_FILE
    if not path.is_file():
        raise ArtifactError(f"artifact {directory}: {CHECKSUM_FILE} is missing")
    digests: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        digest, sep, name = line.partition("  ")
        if not sep:
            digest, sep, name = line.partition(" *")
        valid_digest = len(digest) == 64 and all(c in "0123456789abcdef" for c in digest)
        if not sep or not valid_digest or not _is_inside(name):
            raise ArtifactError(
                f"artifact {directory}: {CHECKSUM_FILE} line {number} is not "
                f"'<sha256 hex>  <relative path>': {line!r}"
            )
        digests[name] = digest
    return digests


def verify_checksums(directory: Path) -> dict[str, str]:
    """Check that the files of ``directory`` are exactly those its checksums list.

    Returns:
        Relative path to hex digest, as verified.

    Raises:
        ArtifactError: Naming every file that is missing, not listed (extra) or whose
            content differs (modified or truncated).
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise ArtifactError(f"artifact {directory} is not a directory")
    expected = read_checksums(directory)
    present = set(artifact_files(directory))
    problems = [f"{name} is missing" for name in sorted(expected.keys() - present)]
    unlisted = sorted(present - expected.keys())
    problems += [f"{name} is not listed in {CHECKSUM_FILE}" for name in unlisted]
    for name in sorted(expected.keys() & present):
        if sha256_file(directory / name) != expected[name]:
            problems.append(f"{name} does not match its checksum (modified or truncated)")
    if problems:
        raise ArtifactError(f"artifact {directory} failed verification: " + "; ".join(problems))
    return expected


def _is_inside(name: str) -> bool:
    posix = PurePosixPath(name)
    return bool(name) and not posix.is_absolute() and ".." not in posix.parts and "\\" not in name
