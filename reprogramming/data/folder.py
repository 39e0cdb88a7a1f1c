"""Image-folder datasets (one folder per class), from a directory or a validated archive."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path

import torch

from reprogramming.data.archives import (
    ArchiveLimits,
    ImageFolder,
    extract_image_folder,
    scan_image_folder,
)
from reprogramming.data.base import ImageSet, Source
from reprogramming.errors import InvalidInputError
from reprogramming.hashing import file_sha256
from reprogramming.images import open_image, to_uint8


def fingerprint(path: Path) -> str:
    """A content hash of an archive, or of a folder's file names, sizes and times."""
    if path.is_file():
        return file_sha256(path)[:24]
    digest = hashlib.sha256()
    for item in sorted(path.rglob("*")):
        if item.is_file():
            stat = item.stat()
            digest.update(f"{item.relative_to(path)}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:24]


def decode_folder(folder: ImageFolder, *, image_size: int) -> ImageSet:
    """Decode every image of a validated class-folder tree to uint8 RGB at image_size²."""
    root, paths, labels, classes = folder.root, folder.paths, folder.labels, folder.classes
    images = []
    for path in paths:
        try:
            images.append(to_uint8(open_image(path), channels=3, size=image_size))
        except InvalidInputError as exc:
            raise InvalidInputError(f"{path.relative_to(root)}: {exc.message}") from exc
    return ImageSet(torch.stack(images), torch.tensor(labels, dtype=torch.int64), classes)


def load_folder(path: Path, *, image_size: int, limits: ArchiveLimits | None = None) -> Source:
    """A dataset from an image-folder directory or archive (archives are extracted safely)."""
    limits = limits or ArchiveLimits()
    if not path.exists():
        raise InvalidInputError(f"no such file or directory: {path}")
    if path.is_dir():
        paths, labels, classes = scan_image_folder(path, limits=limits)
        folder = ImageFolder(path, paths, labels, classes)
        return Source(decode_folder(folder, image_size=image_size))
    workdir = Path(tempfile.mkdtemp(prefix="reprogram-extract-"))
    try:
        folder = extract_image_folder(path, workdir, limits=limits)  # checks each image once
        return Source(decode_folder(folder, image_size=image_size))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
