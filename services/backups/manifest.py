"""The manifest of a backup: ``SHA256SUMS`` (one ``<sha256>  <path>`` line per file, what
``sha256sum -c SHA256SUMS`` reads) and ``sauvegarde.json`` (what the backup holds), itself
listed in SHA256SUMS. Verifying rehashes every file and names each one that is missing,
changed, or not listed."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path, PurePosixPath

MANIFEST = "SHA256SUMS"
METADATA = "sauvegarde.json"
FORMAT = 1
CHUNK = 1024 * 1024


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def is_safe(relative: str) -> bool:
    """A path that stays inside the backup folder (the manifest may have been tampered with)."""
    path = PurePosixPath(relative)
    return (bool(relative) and not path.is_absolute() and ".." not in path.parts
            and "\\" not in relative and "\n" not in relative)


def write(folder: Path, hashes: dict[str, str], metadata: dict) -> None:
    """Write the metadata, then the manifest last: a backup cut short has no manifest, and
    ``verify`` says so."""
    text = json.dumps({"format": FORMAT, **metadata}, ensure_ascii=False, indent=2) + "\n"
    (folder / METADATA).write_text(text, encoding="utf-8")
    hashes = {**hashes, METADATA: sha256_of(folder / METADATA)}
    lines = "".join(f"{digest}  {relative}\n" for relative, digest in sorted(hashes.items()))
    (folder / MANIFEST).write_text(lines, encoding="utf-8")


def read_metadata(folder: Path) -> dict:
    return json.loads((folder / METADATA).read_text(encoding="utf-8"))


def verify(folder: Path) -> tuple[int, list[str]]:
    """(files checked, problems in French): every listed file present with its hash, no file
    that the manifest does not list."""
    manifest = folder / MANIFEST
    if not folder.is_dir():
        return 0, [f"Dossier de sauvegarde introuvable : {folder}."]
    if not manifest.is_file():
        return 0, [f"Manifeste {MANIFEST} absent : ce dossier n'est pas une sauvegarde "
                   f"complète."]
    listed: dict[str, str] = {}
    problems = []
    for number, line in enumerate(manifest.read_text(encoding="utf-8").splitlines(), start=1):
        digest, separator, relative = line.partition("  ")
        if not separator or len(digest) != 64 or not is_safe(relative):
            problems.append(f"Ligne {number} du manifeste {MANIFEST} illisible.")
            continue
        listed[relative] = digest
    for relative, digest in sorted(listed.items()):
        path = folder / relative
        if not path.is_file():
            problems.append(f"Fichier manquant : {relative}.")
        elif sha256_of(path) != digest:
            problems.append(f"Fichier modifié : {relative} (son empreinte SHA-256 n'est plus "
                            f"celle du manifeste).")
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder).as_posix()
        if path.is_file() and relative != MANIFEST and relative not in listed:
            problems.append(f"Fichier absent du manifeste : {relative}.")
    if METADATA not in listed and not problems:
        problems.append(f"{METADATA} absent du manifeste.")
    return len(listed), problems
