"""Safe extraction and validation of user-supplied image-folder datasets (zip or tar archives)."""

from __future__ import annotations

import bz2
import functools
import gzip
import lzma
import os
import re
import shutil
import stat
import struct
import tarfile
import warnings
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal, cast

from PIL import Image

from reprogramming.errors import InvalidInputError

ARCHIVE_RULES = frozenset(
    {
        "unsupported_format",
        "corrupt",
        "path_traversal",
        "absolute_path",
        "link",
        "special_file",
        "too_many_members",
        "member_too_large",
        "too_large",
        "compression_ratio",
        "not_an_image",
        "too_many_pixels",
        "layout",
        "empty",
    }
)

IMAGE_SUFFIXES: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}
)

# Only plain raster decoders: Pillow would otherwise hand e.g. EPS files to Ghostscript.
# (Phone-camera MPO files come in through the JPEG opener.)
_PIL_FORMATS = ("JPEG", "PNG", "BMP", "GIF", "WEBP", "TIFF", "PPM")

_JUNK_NAMES = frozenset({".DS_Store", "Thumbs.db"})
_JUNK_DIRS = frozenset({"__MACOSX"})

# Tiny members compress extremely well in ordinary data (blank images, headers) and cannot
# exhaust anything, so the ratio rule only bites above this many uncompressed bytes.
_RATIO_EXEMPT_BYTES = 1 << 20
# Tar metadata (pax headers, GNU long names) is read into memory whole by tarfile.
_MAX_TAR_METADATA_BYTES = 1 << 20
# Headers and padding a tar stream may add per member on top of the member data.
_TAR_OVERHEAD_PER_MEMBER = 4096
_CHUNK = 1 << 20
_MAX_NAME_COMPONENT_BYTES = 255
_MAX_NAME_BYTES = 4096
_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:")

_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
_Decompressor = Callable[[IO[bytes]], IO[bytes]]


def _gunzip(handle: IO[bytes]) -> IO[bytes]:
    return cast(IO[bytes], gzip.GzipFile(fileobj=handle, mode="rb"))


_TAR_COMPRESSIONS: dict[bytes, _Decompressor] = {
    b"\x1f\x8b": _gunzip,
    b"BZh": bz2.BZ2File,
    b"\xfd7zXZ\x00": lzma.LZMAFile,
}
_ZIP_METHODS = frozenset(
    {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
)
# What a damaged archive can raise from the standard library's readers.
_READ_ERRORS: tuple[type[BaseException], ...] = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    tarfile.TarError,
    OSError,
    EOFError,
    ValueError,
    struct.error,
    zlib.error,
    lzma.LZMAError,
    NotImplementedError,
)


class ArchiveError(InvalidInputError):
    """An upload broke a safety or layout rule; `rule` names which."""

    def __init__(self, message: str, *, rule: str) -> None:
        if rule not in ARCHIVE_RULES:
            raise ValueError(f"unknown archive rule {rule!r}")
        super().__init__(message)
        self.rule = rule

    def __reduce__(self) -> tuple[object, ...]:
        # The keyword-only rule would be lost by the default exception pickling.
        return (functools.partial(type(self), rule=self.rule), (self.message,))


@dataclass(frozen=True)
class ArchiveLimits:
    """Safety and layout limits for an uploaded image-folder dataset."""

    max_members: int = 200_000
    max_member_bytes: int = 64 * 2**20
    max_total_bytes: int = 4 * 2**30
    max_compression_ratio: float = 200.0
    max_image_pixels: int = 40_000_000
    min_images_per_class: int = 1
    min_classes: int = 2


def _member_error(name: str, problem: str, rule: str) -> ArchiveError:
    return ArchiveError(f"archive member {name!r} {problem} ({rule})", rule=rule)


@dataclass
class _Entry:
    name: str
    parts: tuple[str, ...]
    kind: Literal["file", "dir"]
    size: int
    junk: bool


def _normalise_name(name: str) -> tuple[str, ...]:
    # Windows tools write backslashes; a hostile name may use them to hide a '..'.
    unified = name.replace("\\", "/")
    if unified.startswith("/") or _WINDOWS_DRIVE.match(unified):
        raise _member_error(name, "has an absolute path", "absolute_path")
    if "\x00" in unified:
        raise _member_error(name, "has a NUL byte in its name", "corrupt")
    parts = tuple(part for part in unified.split("/") if part not in ("", "."))
    if ".." in parts:
        raise _member_error(name, "escapes the extraction folder", "path_traversal")
    encoded = [os.fsencode(part) for part in parts]
    if (
        any(len(part) > _MAX_NAME_COMPONENT_BYTES for part in encoded)
        or sum(len(part) + 1 for part in encoded) > _MAX_NAME_BYTES
    ):
        raise _member_error(name, "has a name too long to store", "layout")
    return parts


def _is_junk(parts: tuple[str, ...]) -> bool:
    if any(part in _JUNK_DIRS for part in parts):
        return True
    return bool(parts) and (parts[-1] in _JUNK_NAMES or parts[-1].startswith("._"))


def _ratio_exceeded(uncompressed: int, compressed: int, limits: ArchiveLimits) -> bool:
    return uncompressed > _RATIO_EXEMPT_BYTES and uncompressed > limits.max_compression_ratio * max(
        compressed, 1
    )


@dataclass
class _Budget:
    """Running totals over an archive's declared metadata, checked member by member."""

    dest: Path
    archive_bytes: int
    limits: ArchiveLimits
    members: int = 0
    declared_bytes: int = 0
    files: set[tuple[str, ...]] = field(default_factory=set)
    dirs: set[tuple[str, ...]] = field(default_factory=set)

    def add(self, entry: _Entry) -> None:
        limits = self.limits
        self.members += 1
        if self.members > limits.max_members:
            raise _member_error(
                entry.name,
                f"is past the limit of {limits.max_members} members",
                "too_many_members",
            )
        target = self.dest.joinpath(*entry.parts).resolve()
        if not target.is_relative_to(self.dest):
            raise _member_error(entry.name, "escapes the extraction folder", "path_traversal")
        if entry.kind != "file":
            self._claim_dir(entry, entry.parts)
            return
        if not entry.parts:
            raise _member_error(entry.name, "is a file with an empty name", "layout")
        if entry.size > limits.max_member_bytes:
            raise _member_error(
                entry.name,
                f"is {entry.size} bytes, over the limit of {limits.max_member_bytes}",
                "member_too_large",
            )
        self.declared_bytes += entry.size
        if self.declared_bytes > limits.max_total_bytes:
            raise _member_error(
                entry.name,
                f"brings the uncompressed total to {self.declared_bytes} bytes, "
                f"over the limit of {limits.max_total_bytes}",
                "too_large",
            )
        if _ratio_exceeded(self.declared_bytes, self.archive_bytes, limits):
            raise _member_error(
                entry.name,
                f"brings the archive to {self.declared_bytes} uncompressed bytes from "
                f"{self.archive_bytes} compressed, over the ratio "
                f"{limits.max_compression_ratio:g}",
                "compression_ratio",
            )
        if entry.junk:
            return
        if entry.parts in self.files or entry.parts in self.dirs:
            raise _member_error(entry.name, "appears more than once", "layout")
        self._claim_dir(entry, entry.parts[:-1])
        self.files.add(entry.parts)

    def _claim_dir(self, entry: _Entry, parts: tuple[str, ...]) -> None:
        if entry.junk:
            return
        for depth in range(1, len(parts) + 1):
            prefix = parts[:depth]
            if prefix in self.files:
                folder = "/".join(prefix)
                raise _member_error(
                    entry.name, f"needs {folder!r} as a folder, but it is a file", "layout"
                )
            self.dirs.add(prefix)


# ---- zip ----------------------------------------------------------------------------------


def _zip_entry(info: zipfile.ZipInfo, limits: ArchiveLimits) -> _Entry:
    name = info.filename
    parts = _normalise_name(name)
    file_type = stat.S_IFMT(info.external_attr >> 16)
    if file_type == stat.S_IFLNK:
        raise _member_error(name, "is a symbolic link", "link")
    if file_type not in (0, stat.S_IFREG, stat.S_IFDIR):
        raise _member_error(name, "is a device, pipe or socket", "special_file")
    if info.flag_bits & 0x1:
        raise _member_error(name, "is encrypted", "unsupported_format")
    if info.compress_type not in _ZIP_METHODS:
        raise _member_error(
            name, f"uses unsupported compression method {info.compress_type}", "unsupported_format"
        )
    is_dir = info.is_dir() or file_type == stat.S_IFDIR
    if not is_dir and _ratio_exceeded(info.file_size, info.compress_size, limits):
        raise _member_error(
            name,
            f"expands from {info.compress_size} to {info.file_size} bytes, over the ratio "
            f"{limits.max_compression_ratio:g}",
            "compression_ratio",
        )
    return _Entry(
        name=name,
        parts=parts,
        kind="dir" if is_dir else "file",
        size=0 if is_dir else info.file_size,
        junk=_is_junk(parts),
    )


def _extract_zip(archive: Path, dest: Path, limits: ArchiveLimits) -> None:
    archive_bytes = archive.stat().st_size
    try:
        zf = zipfile.ZipFile(archive)
    except _READ_ERRORS as exc:
        raise _corrupt(archive, exc) from exc
    with zf:
        infos = zf.infolist()
        if len(infos) > limits.max_members:
            raise _member_error(
                infos[limits.max_members].filename,
                f"is past the limit of {limits.max_members} members",
                "too_many_members",
            )
        budget = _Budget(dest, archive_bytes, limits)
        planned = []
        for info in infos:
            entry = _zip_entry(info, limits)
            budget.add(entry)
            planned.append((info, entry))
        written = _Written()
        for info, entry in planned:
            if entry.junk or not entry.parts:
                continue
            target = dest.joinpath(*entry.parts)
            if entry.kind == "dir":
                target.mkdir(parents=True, exist_ok=True)
                continue
            try:
                source = zf.open(info)
            except _READ_ERRORS as exc:
                raise _corrupt_member(entry.name, exc) from exc
            with source:
                _copy(source, target, entry, written, limits, compressed=info.compress_size)


# ---- tar ----------------------------------------------------------------------------------


class _GuardedTarInfo(tarfile.TarInfo):
    """A TarInfo that refuses oversized metadata blocks before tarfile reads them into memory."""

    def _proc_member(self, tarfile_: tarfile.TarFile) -> tarfile.TarInfo:
        # tarfile documents _proc_member as the hook subclasses override.
        if self.type == tarfile.GNUTYPE_SPARSE:
            raise _member_error(self.name, "is a sparse file", "special_file")
        metadata_types = (
            tarfile.XHDTYPE,
            tarfile.XGLTYPE,
            tarfile.SOLARIS_XHDTYPE,
            tarfile.GNUTYPE_LONGNAME,
            tarfile.GNUTYPE_LONGLINK,
        )
        if self.type in metadata_types and self.size > _MAX_TAR_METADATA_BYTES:
            raise _member_error(
                self.name,
                f"declares {self.size} bytes of header metadata, over the limit of "
                f"{_MAX_TAR_METADATA_BYTES}",
                "corrupt",
            )
        return super()._proc_member(tarfile_)  # type: ignore[misc]  # private: not in the stubs


class _CountingReader:
    """A read-only stream that stops once the decompressed tar stream grows past its budget."""

    def __init__(
        self, raw: IO[bytes], *, archive: Path, limits: ArchiveLimits, compressed: bool
    ) -> None:
        self._raw = raw
        self._archive = archive
        self._limits = limits
        self._compressed = compressed
        self._archive_bytes = archive.stat().st_size
        self._cap = (
            limits.max_total_bytes
            + (limits.max_members + 2) * _TAR_OVERHEAD_PER_MEMBER
            + _RATIO_EXEMPT_BYTES
        )
        self.count = 0
        self.last_member = "<start of archive>"

    def read(self, size: int = -1) -> bytes:
        size = _CHUNK if size < 0 else min(size, _CHUNK)
        data = self._raw.read(size)
        self.count += len(data)
        if self.count > self._cap:
            raise ArchiveError(
                f"archive {self._archive.name!r} decompresses past {self._cap} bytes "
                f"at member {self.last_member!r} (too_large)",
                rule="too_large",
            )
        if self._compressed and _ratio_exceeded(self.count, self._archive_bytes, self._limits):
            raise ArchiveError(
                f"archive {self._archive.name!r} decompresses past {self.count} bytes from "
                f"{self._archive_bytes} at member {self.last_member!r}, over the ratio "
                f"{self._limits.max_compression_ratio:g} (compression_ratio)",
                rule="compression_ratio",
            )
        return data


def _tar_entry(member: tarfile.TarInfo) -> _Entry:
    name = member.name
    parts = _normalise_name(name)
    if member.issym() or member.islnk():
        raise _member_error(name, f"is a link to {member.linkname!r}", "link")
    if member.isdir():
        kind: Literal["file", "dir"] = "dir"
    elif member.isreg() and not member.issparse():
        kind = "file"
    else:
        raise _member_error(name, "is a device, pipe or other special file", "special_file")
    return _Entry(
        name=name,
        parts=parts,
        kind=kind,
        size=member.size if kind == "file" else 0,
        junk=_is_junk(parts),
    )


@contextmanager
def _tar_stream(
    archive: Path, decompressor: _Decompressor | None, limits: ArchiveLimits
) -> Iterator[tuple[tarfile.TarFile, _CountingReader]]:
    with archive.open("rb") as handle:
        raw: IO[bytes] = handle
        if decompressor is not None:
            raw = decompressor(handle)
        with raw:
            reader = _CountingReader(
                raw, archive=archive, limits=limits, compressed=decompressor is not None
            )
            # Stream mode reads strictly forward, so every byte passes through the counter.
            with tarfile.open(
                fileobj=cast(IO[bytes], reader),
                mode="r|",
                tarinfo=_GuardedTarInfo,
            ) as tf:
                yield tf, reader


def _extract_tar(
    archive: Path, dest: Path, decompressor: _Decompressor | None, limits: ArchiveLimits
) -> None:
    archive_bytes = archive.stat().st_size
    try:
        # First pass: metadata only, nothing is written.
        budget = _Budget(dest, archive_bytes, limits)
        with _tar_stream(archive, decompressor, limits) as (tf, reader):
            for member in tf:
                reader.last_member = member.name
                budget.add(_tar_entry(member))
    except ArchiveError:
        raise
    except _READ_ERRORS as exc:
        raise _corrupt(archive, exc) from exc

    written = _Written()
    try:
        with _tar_stream(archive, decompressor, limits) as (tf, reader):
            for member in tf:
                reader.last_member = member.name
                entry = _tar_entry(member)
                if entry.junk or not entry.parts:
                    continue
                target = dest.joinpath(*entry.parts)
                if entry.kind == "dir":
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                source = tf.extractfile(member)
                if source is None:
                    raise _member_error(entry.name, "has no data", "corrupt")
                with source:
                    _copy(source, target, entry, written, limits, compressed=None)
    except ArchiveError:
        raise
    except (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError) as exc:
        raise _corrupt(archive, exc) from exc


# ---- shared extraction ----------------------------------------------------------------------


@dataclass
class _Written:
    total: int = 0


def _corrupt(archive: Path, exc: BaseException) -> ArchiveError:
    return ArchiveError(
        f"archive {archive.name!r} is damaged or truncated: {exc} (corrupt)", rule="corrupt"
    )


def _corrupt_member(name: str, exc: BaseException) -> ArchiveError:
    return _member_error(name, f"is damaged: {exc}", "corrupt")


def _copy(
    source: IO[bytes],
    target: Path,
    entry: _Entry,
    written: _Written,
    limits: ArchiveLimits,
    *,
    compressed: int | None,
) -> None:
    """Stream one member to disk, enforcing the limits on the bytes that actually arrive."""
    target.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with target.open("xb") as out:
        while True:
            try:
                chunk = source.read(_CHUNK)
            except _READ_ERRORS as exc:
                raise _corrupt_member(entry.name, exc) from exc
            if not chunk:
                break
            count += len(chunk)
            written.total += len(chunk)
            if count > limits.max_member_bytes:
                raise _member_error(
                    entry.name,
                    f"expands past {limits.max_member_bytes} bytes",
                    "member_too_large",
                )
            if written.total > limits.max_total_bytes:
                raise _member_error(
                    entry.name,
                    f"brings the extracted total past {limits.max_total_bytes} bytes",
                    "too_large",
                )
            if compressed is not None and _ratio_exceeded(count, compressed, limits):
                raise _member_error(
                    entry.name,
                    f"expands from {compressed} to more than {count} bytes, over the ratio "
                    f"{limits.max_compression_ratio:g}",
                    "compression_ratio",
                )
            if count > entry.size:
                raise _member_error(
                    entry.name, f"holds more than the {entry.size} bytes it declares", "corrupt"
                )
            out.write(chunk)
    if count != entry.size:
        raise _member_error(entry.name, f"holds {count} bytes but declares {entry.size}", "corrupt")


def _detect_format(archive: Path) -> tuple[Literal["zip", "tar"], _Decompressor | None]:
    with archive.open("rb") as handle:
        head = handle.read(512)
    if not head:
        raise ArchiveError(f"archive {archive.name!r} is an empty file (empty)", rule="empty")
    if head.startswith(_ZIP_MAGICS):
        return "zip", None
    for magic, decompressor in _TAR_COMPRESSIONS.items():
        if head.startswith(magic):
            return "tar", decompressor
    if head[257:262] == b"ustar":
        return "tar", None
    try:
        if zipfile.is_zipfile(archive):
            return "zip", None
        if tarfile.is_tarfile(archive):
            return "tar", None
    except _READ_ERRORS:
        pass
    raise ArchiveError(
        f"archive {archive.name!r} is not a zip or tar archive (unsupported_format)",
        rule="unsupported_format",
    )


def _class_root(dest: Path) -> Path:
    """Descend through wrapper folders: a lone folder that itself holds folders."""
    root = dest
    while True:
        children = list(root.iterdir())
        if len(children) != 1 or not children[0].is_dir():
            return root
        if not any(grandchild.is_dir() for grandchild in children[0].iterdir()):
            return root
        root = children[0]


def _clear(dest: Path) -> None:
    for child in dest.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)


@dataclass(frozen=True)
class ImageFolder:
    """A validated one-folder-per-class tree: its root, images, their classes, the class names."""

    root: Path
    paths: list[Path]
    labels: list[int]
    classes: list[str]


def extract_image_folder(
    archive: Path, dest: Path, *, limits: ArchiveLimits = ArchiveLimits()
) -> ImageFolder:
    """Validate and extract an image-folder archive into dest; every image is checked once, here."""
    archive = Path(archive)
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    dest = dest.resolve()
    if any(dest.iterdir()):
        raise FileExistsError(f"extraction folder {dest} is not empty")
    try:
        kind, decompressor = _detect_format(archive)
        if kind == "zip":
            _extract_zip(archive, dest, limits)
        else:
            _extract_tar(archive, dest, decompressor, limits)
        root = _class_root(dest)
        paths, labels, classes = _scan(
            root,
            limits,
            shown_from=dest,
            label="archive member",
            container=f"archive {archive.name!r}",
        )
    except BaseException:
        _clear(dest)
        raise
    return ImageFolder(root, paths, labels, classes)


def extract_archive(archive: Path, dest: Path, *, limits: ArchiveLimits = ArchiveLimits()) -> Path:
    """Validate and extract an image-folder archive into dest; return the folder that holds the class folders."""
    return extract_image_folder(archive, dest, limits=limits).root


# ---- folder validation ----------------------------------------------------------------------


@functools.cache
def _pil_formats() -> tuple[str, ...]:
    # A Pillow build without one of the optional codecs (WebP) simply lacks that opener.
    Image.init()
    return tuple(name for name in _PIL_FORMATS if name in Image.OPEN)


def _check_image(path: Path, shown: str, label: str, limits: ArchiveLimits) -> None:
    def error(problem: str, rule: str) -> ArchiveError:
        return ArchiveError(f"{label} {shown!r} {problem} ({rule})", rule=rule)

    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise error(
            f"is not an image (expected one of {', '.join(sorted(IMAGE_SUFFIXES))})",
            "not_an_image",
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path, formats=_pil_formats()) as image:
                width, height = image.size
                if width * height > limits.max_image_pixels:
                    raise error(
                        f"is {width}x{height} pixels, over the limit of {limits.max_image_pixels}",
                        "too_many_pixels",
                    )
                image.verify()
    except ArchiveError:
        raise
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise error(
            f"declares more pixels than the limit of {limits.max_image_pixels}", "too_many_pixels"
        ) from exc
    except Exception as exc:
        # Pillow can raise almost anything on hostile bytes; all of it means "not an image".
        detail = str(exc).replace(str(path), shown) or type(exc).__name__
        raise error(f"is not a readable image: {detail}", "not_an_image") from exc


@dataclass(frozen=True)
class _Scan:
    """A scan of a one-folder-per-class tree; errors name a member by `label` and its path."""

    limits: ArchiveLimits
    shown_from: Path  # paths in errors are relative to this
    label: str  # what a member is called in errors ('member', 'file')
    container: str  # what the tree is called in errors

    def shown(self, path: Path) -> str:
        return path.relative_to(self.shown_from).as_posix()

    def error(self, path: Path, problem: str, rule: str) -> ArchiveError:
        return ArchiveError(f"{self.label} {self.shown(path)!r} {problem} ({rule})", rule=rule)

    def class_folders(self, root: Path) -> list[str]:
        """The sorted class folder names at the top of `root`, which holds nothing else."""
        classes: list[str] = []
        for entry in sorted(os.scandir(root), key=lambda e: e.name):
            path = root / entry.name
            if _is_junk((entry.name,)):
                continue
            if entry.is_symlink():
                raise self.error(path, "is a symbolic link", "link")
            if entry.is_dir(follow_symlinks=False):
                classes.append(entry.name)
            elif entry.is_file(follow_symlinks=False):
                raise self.error(
                    path,
                    "sits at the top level; every image must be inside a folder named after "
                    "its class",
                    "layout",
                )
            else:
                raise self.error(path, "is a device, pipe or other special file", "special_file")
        if not classes:
            raise ArchiveError(f"{self.container} holds no class folders (empty)", rule="empty")
        if len(classes) < self.limits.min_classes:
            raise ArchiveError(
                f"{self.container} holds {len(classes)} class folder(s) "
                f"({', '.join(repr(c) for c in classes)}); at least {self.limits.min_classes} "
                "are needed (layout)",
                rule="layout",
            )
        return classes

    def images(self, class_dir: Path) -> list[Path]:
        """The checked images directly in one class folder, sorted; enough of them."""
        images: list[Path] = []
        for entry in sorted(os.scandir(class_dir), key=lambda e: e.name):
            path = class_dir / entry.name
            if _is_junk((entry.name,)):
                continue
            if entry.is_symlink():
                raise self.error(path, "is a symbolic link", "link")
            if entry.is_dir(follow_symlinks=False):
                raise self.error(
                    path,
                    f"is a folder nested inside class folder {class_dir.name!r}; "
                    "images must sit directly in their class folder",
                    "layout",
                )
            if not entry.is_file(follow_symlinks=False):
                raise self.error(path, "is a device, pipe or other special file", "special_file")
            _check_image(path, self.shown(path), self.label, self.limits)
            images.append(path)
        if len(images) < self.limits.min_images_per_class:
            raise self.error(
                class_dir,
                f"holds {len(images)} image(s); every class needs at least "
                f"{self.limits.min_images_per_class}",
                "empty",
            )
        return images


def _scan(
    root: Path, limits: ArchiveLimits, *, shown_from: Path, label: str, container: str
) -> tuple[list[Path], list[int], list[str]]:
    """(image paths, class indices, class names) of a validated one-folder-per-class tree."""
    if not root.is_dir():
        raise ArchiveError(f"{str(root)!r} is not a folder (layout)", rule="layout")
    scan = _Scan(limits, shown_from=shown_from, label=label, container=container)
    classes = scan.class_folders(root)
    paths: list[Path] = []
    labels: list[int] = []
    for index, name in enumerate(classes):
        images = scan.images(root / name)
        paths.extend(images)
        labels.extend([index] * len(images))
    return paths, labels, classes


def scan_image_folder(
    root: Path, *, limits: ArchiveLimits = ArchiveLimits()
) -> tuple[list[Path], list[int], list[str]]:
    """List (image paths, class indices, sorted class names) of a one-folder-per-class tree, validating every file."""
    root = Path(root)
    return _scan(root, limits, shown_from=root, label="file", container=f"folder {str(root)!r}")
