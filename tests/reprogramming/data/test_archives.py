"""Safety and layout rules of image-folder archive extraction, on real archives and images."""

from __future__ import annotations

import io
import os
import pickle
import stat
import struct
import tarfile
import zipfile
import zlib
from pathlib import Path

import pytest
from PIL import Image

from reprogramming.data.archives import (
    IMAGE_SUFFIXES,
    ArchiveError,
    ArchiveLimits,
    extract_archive,
    extract_image_folder,
    scan_image_folder,
)

Member = tuple[str | zipfile.ZipInfo, bytes]


def image_bytes(colour: tuple[int, int, int] = (200, 30, 30), fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), colour).save(buffer, format=fmt)
    return buffer.getvalue()


PNG = image_bytes()
JPEG = image_bytes((30, 200, 30), "JPEG")


def png_header(width: int, height: int) -> bytes:
    """A well-formed PNG whose header declares width x height 1-bit pixels (the data is short)."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(tag + data))
        return struct.pack(">I", len(data)) + tag + data + crc

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


GOOD: list[Member] = [
    ("wrap/", b""),
    ("wrap/cat/a.png", PNG),
    ("wrap/cat/b.jpg", JPEG),
    ("wrap/dog/c.png", image_bytes((0, 0, 255))),
    ("wrap/.DS_Store", b"\x00\x00\x00\x01Bud1"),
    ("__MACOSX/wrap/cat/._a.png", b"\x00\x05\x16\x07 resource fork"),
    ("wrap/dog/Thumbs.db", b"junk"),
]


def make_zip(path: Path, members: list[Member]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            zf.writestr(name, data)
    return path


def tar_member(name: str, data: bytes = b"", kind: bytes = tarfile.REGTYPE, **attrs: object):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    for key, value in attrs.items():
        setattr(info, key, value)
    return info, data


def make_tar(path: Path, members: list, mode: str = "w:gz", **kwargs: object) -> Path:
    with tarfile.open(path, mode, **kwargs) as tf:  # type: ignore[call-overload]
        for item in members:
            if isinstance(item[0], tarfile.TarInfo):
                info, data = item
            else:
                name, data = item
                info, data = tar_member(
                    name.rstrip("/"), data, tarfile.DIRTYPE if name.endswith("/") else b"0"
                )
            tf.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return path


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    return tmp_path / "out"


def assert_rejected(
    archive: Path, dest: Path, rule: str, member: str, limits: ArchiveLimits | None = None
) -> ArchiveError:
    with pytest.raises(ArchiveError) as caught:
        extract_archive(archive, dest, limits=limits or ArchiveLimits())
    error = caught.value
    assert error.rule == rule, str(error)
    assert f"({rule})" in str(error)
    assert member in str(error), str(error)
    assert isinstance(error, ValueError)
    assert dest.is_dir() and not any(dest.iterdir()), "partial extraction was left behind"
    return error


# ---- accepted archives ------------------------------------------------------------------------


def test_good_zip_with_wrapper_and_macos_junk(tmp_path: Path, dest: Path) -> None:
    archive = make_zip(tmp_path / "upload.zip", GOOD)
    root = extract_archive(archive, dest)
    assert root == dest.resolve() / "wrap"
    paths, labels, classes = scan_image_folder(root)
    assert classes == ["cat", "dog"]
    assert [p.relative_to(root).as_posix() for p in paths] == [
        "cat/a.png",
        "cat/b.jpg",
        "dog/c.png",
    ]
    assert labels == [0, 0, 1]
    assert not (dest / "__MACOSX").exists()
    assert not (root / ".DS_Store").exists()
    assert not (root / "dog" / "Thumbs.db").exists()


@pytest.mark.parametrize("mode", ["w:gz", "w:bz2", "w:xz", "w"])
def test_good_tar_with_wrapper_and_junk(tmp_path: Path, dest: Path, mode: str) -> None:
    # Deliberately misnamed: the format is decided by content.
    archive = make_tar(tmp_path / "upload.bin", GOOD, mode)
    root = extract_archive(archive, dest)
    assert root.name == "wrap"
    paths, labels, classes = scan_image_folder(root)
    assert classes == ["cat", "dog"]
    assert labels == [0, 0, 1]
    assert all(p.is_file() for p in paths)
    assert not (dest / "__MACOSX").exists()


@pytest.mark.parametrize("kind", ["zip", "tar"])
def test_extraction_lists_what_it_checked(tmp_path: Path, dest: Path, kind: str) -> None:
    # Uploads and training use this listing instead of scanning the extracted tree again.
    archive = (make_zip if kind == "zip" else make_tar)(tmp_path / f"a.{kind}", GOOD)
    folder = extract_image_folder(archive, dest)
    assert folder.root == dest.resolve() / "wrap"
    assert (folder.paths, folder.labels, folder.classes) == scan_image_folder(folder.root)
    assert folder.classes == ["cat", "dog"] and folder.labels == [0, 0, 1]


def test_zip_named_like_a_tarball_and_without_wrapper(tmp_path: Path, dest: Path) -> None:
    members = [(name.removeprefix("wrap/"), data) for name, data in GOOD if name != "wrap/"]
    root = extract_archive(make_zip(tmp_path / "data.tar.gz", members), dest)
    assert root == dest.resolve()
    assert scan_image_folder(root)[2] == ["cat", "dog"]


def test_nested_wrapper_folders_are_descended(tmp_path: Path, dest: Path) -> None:
    members = [("home/me/flowers/" + name, data) for name, data in GOOD if name.startswith("wrap/")]
    root = extract_archive(make_zip(tmp_path / "a.zip", members), dest)
    assert root.relative_to(dest.resolve()).as_posix() == "home/me/flowers/wrap"


def test_scan_image_folder_on_plain_directory(tmp_path: Path) -> None:
    root = tmp_path / "data"
    for cls, names in {"zebra": ["2.png", "1.jpeg"], "ant": ["x.PNG"]}.items():
        (root / cls).mkdir(parents=True)
        for name in names:
            Image.new("RGB", (8, 8)).save(root / cls / name, format="PNG")
    (root / ".DS_Store").write_bytes(b"junk")
    (root / "ant" / "._x.PNG").write_bytes(b"junk")
    paths, labels, classes = scan_image_folder(root)
    assert classes == ["ant", "zebra"]
    assert paths == [root / "ant/x.PNG", root / "zebra/1.jpeg", root / "zebra/2.png"]
    assert labels == [0, 1, 1]


def test_image_suffixes() -> None:
    assert {".jpg", ".jpeg", ".png", ".webp", ".tiff", ".pgm"} <= IMAGE_SUFFIXES


# ---- member metadata rules ----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["../evil.png", "cat/../../evil.png", "..\\evil.png"])
def test_zip_path_traversal(tmp_path: Path, dest: Path, name: str) -> None:
    archive = make_zip(tmp_path / "a.zip", [*GOOD, (name, PNG)])
    assert_rejected(archive, dest, "path_traversal", repr(name))
    assert not (tmp_path / "evil.png").exists()


def test_tar_path_traversal(tmp_path: Path, dest: Path) -> None:
    archive = make_tar(tmp_path / "a.tgz", [*GOOD, ("wrap/../../evil.png", PNG)])
    error = assert_rejected(archive, dest, "path_traversal", "'wrap/../../evil.png'")
    assert "escapes the extraction folder" in str(error)
    assert not (tmp_path / "evil.png").exists()


@pytest.mark.parametrize("name", ["/tmp/evil.png", "C:/evil.png", "c:evil.png", "\\evil.png"])
def test_zip_absolute_path(tmp_path: Path, dest: Path, name: str) -> None:
    archive = make_zip(tmp_path / "a.zip", [*GOOD, (zipfile.ZipInfo(name), PNG)])
    assert_rejected(archive, dest, "absolute_path", repr(name))


def test_tar_absolute_path(tmp_path: Path, dest: Path) -> None:
    archive = make_tar(tmp_path / "a.tar", [*GOOD, ("/tmp/evil.png", PNG)], "w")
    assert_rejected(archive, dest, "absolute_path", "'/tmp/evil.png'")


def test_tar_symlink(tmp_path: Path, dest: Path) -> None:
    link = tar_member("wrap/cat/link.png", kind=tarfile.SYMTYPE, linkname="/etc/passwd")
    archive = make_tar(tmp_path / "a.tgz", [*GOOD, link])
    assert_rejected(archive, dest, "link", "'wrap/cat/link.png'")


def test_tar_hardlink(tmp_path: Path, dest: Path) -> None:
    link = tar_member("wrap/dog/hard.png", kind=tarfile.LNKTYPE, linkname="wrap/cat/a.png")
    archive = make_tar(tmp_path / "a.tgz", [*GOOD, link])
    assert_rejected(archive, dest, "link", "'wrap/dog/hard.png'")


def test_zip_symlink(tmp_path: Path, dest: Path) -> None:
    info = zipfile.ZipInfo("wrap/cat/link.png")
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    archive = make_zip(tmp_path / "a.zip", [*GOOD, (info, b"/etc/passwd")])
    assert_rejected(archive, dest, "link", "'wrap/cat/link.png'")


@pytest.mark.parametrize("kind", [tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.FIFOTYPE])
def test_tar_special_file(tmp_path: Path, dest: Path, kind: bytes) -> None:
    special = tar_member("wrap/cat/dev.png", kind=kind, devmajor=1, devminor=3)
    archive = make_tar(tmp_path / "a.tgz", [*GOOD, special])
    assert_rejected(archive, dest, "special_file", "'wrap/cat/dev.png'")


def test_zip_special_file(tmp_path: Path, dest: Path) -> None:
    info = zipfile.ZipInfo("wrap/cat/fifo.png")
    info.external_attr = (stat.S_IFIFO | 0o644) << 16
    archive = make_zip(tmp_path / "a.zip", [*GOOD, (info, b"")])
    assert_rejected(archive, dest, "special_file", "'wrap/cat/fifo.png'")


@pytest.mark.parametrize("maker", [make_zip, make_tar])
def test_too_many_members(tmp_path: Path, dest: Path, maker) -> None:
    archive = maker(tmp_path / "a.bin", GOOD)
    limits = ArchiveLimits(max_members=3)
    assert_rejected(archive, dest, "too_many_members", repr(GOOD[3][0]), limits)


@pytest.mark.parametrize("maker", [make_zip, make_tar])
def test_member_too_large(tmp_path: Path, dest: Path, maker) -> None:
    archive = maker(tmp_path / "a.bin", [*GOOD, ("wrap/dog/big.png", os.urandom(5000))])
    limits = ArchiveLimits(max_member_bytes=2000)
    assert_rejected(archive, dest, "member_too_large", "'wrap/dog/big.png'", limits)


@pytest.mark.parametrize("maker", [make_zip, make_tar])
def test_total_too_large(tmp_path: Path, dest: Path, maker) -> None:
    extra = [(f"wrap/dog/{i}.png", os.urandom(1500)) for i in range(4)]
    archive = maker(tmp_path / "a.bin", [*GOOD, *extra])
    limits = ArchiveLimits(max_total_bytes=5000)
    error = assert_rejected(archive, dest, "too_large", "'wrap/dog/", limits)
    assert "5000" in str(error)


@pytest.mark.parametrize("maker", [make_zip, make_tar])
def test_compression_ratio_bomb(tmp_path: Path, dest: Path, maker) -> None:
    archive = maker(tmp_path / "a.bin", [*GOOD, ("wrap/cat/zeros.png", bytes(10 * 2**20))])
    assert archive.stat().st_size < 100_000
    assert_rejected(archive, dest, "compression_ratio", "'wrap/cat/zeros.png'")


def test_zip_header_lying_about_size_does_not_get_past(tmp_path: Path, dest: Path) -> None:
    data = os.urandom(300_000)
    raw = make_zip(tmp_path / "a.zip", [*GOOD, ("wrap/cat/liar.png", data)]).read_bytes()
    declared = struct.pack("<I", len(data))
    assert raw.count(declared) == 2  # the local header and the central directory
    (tmp_path / "a.zip").write_bytes(raw.replace(declared, struct.pack("<I", 100)))
    limits = ArchiveLimits(max_member_bytes=1000)
    assert_rejected(tmp_path / "a.zip", dest, "corrupt", "'wrap/cat/liar.png'", limits)


def test_tar_oversized_metadata_header(tmp_path: Path, dest: Path) -> None:
    info, data = tar_member("wrap/cat/d.png", PNG)
    info.pax_headers = {"comment": "x" * (2 * 2**20)}
    archive = make_tar(tmp_path / "a.tgz", [*GOOD, (info, data)], format=tarfile.PAX_FORMAT)
    assert_rejected(archive, dest, "corrupt", "PaxHeader")


def test_duplicate_members(tmp_path: Path, dest: Path) -> None:
    archive = make_tar(tmp_path / "a.tgz", [*GOOD, ("wrap/cat/a.png", PNG)])
    assert_rejected(archive, dest, "layout", "'wrap/cat/a.png'")


# ---- whole-archive rules ----------------------------------------------------------------------


def test_corrupt_zip(tmp_path: Path, dest: Path) -> None:
    raw = make_zip(tmp_path / "good.zip", GOOD).read_bytes()
    (tmp_path / "broken.zip").write_bytes(raw[: len(raw) // 2])
    assert_rejected(tmp_path / "broken.zip", dest, "corrupt", "'broken.zip'")


def test_corrupt_tar_gz(tmp_path: Path, dest: Path) -> None:
    (tmp_path / "broken.tgz").write_bytes(b"\x1f\x8b\x08\x00" + os.urandom(2000))
    assert_rejected(tmp_path / "broken.tgz", dest, "corrupt", "'broken.tgz'")


@pytest.mark.parametrize("content", [b"just some notes, not an archive\n" * 20, PNG])
def test_unsupported_format(tmp_path: Path, dest: Path, content: bytes) -> None:
    (tmp_path / "data.zip").write_bytes(content)
    assert_rejected(tmp_path / "data.zip", dest, "unsupported_format", "'data.zip'")


# ---- content and layout rules ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "data"),
    [("wrap/dog/notes.txt", b"some notes"), ("wrap/dog/fake.png", b"plain text, not a PNG")],
)
def test_not_an_image(tmp_path: Path, dest: Path, name: str, data: bytes) -> None:
    archive = make_zip(tmp_path / "a.zip", [*GOOD, (name, data)])
    assert_rejected(archive, dest, "not_an_image", repr(name))


def test_image_declaring_huge_dimensions(tmp_path: Path, dest: Path) -> None:
    archive = make_zip(tmp_path / "a.zip", [*GOOD, ("wrap/cat/huge.png", png_header(20000, 20000))])
    assert_rejected(archive, dest, "too_many_pixels", "'wrap/cat/huge.png'")


def test_image_over_the_pixel_limit(tmp_path: Path, dest: Path) -> None:
    # Under Pillow's own bomb threshold, so this is the module's explicit header check.
    archive = make_zip(tmp_path / "a.zip", [*GOOD, ("wrap/cat/big.png", png_header(7000, 7000))])
    assert_rejected(archive, dest, "too_many_pixels", "'wrap/cat/big.png'")
    limits = ArchiveLimits(max_image_pixels=50)
    assert_rejected(make_zip(tmp_path / "b.zip", GOOD), dest, "too_many_pixels", ".png'", limits)


def test_files_at_root_beside_class_folders(tmp_path: Path, dest: Path) -> None:
    archive = make_zip(tmp_path / "a.zip", [*GOOD, ("wrap/readme.png", PNG)])
    error = assert_rejected(archive, dest, "layout", "'wrap/readme.png'")
    assert "top level" in str(error)


def test_nested_folder_inside_class(tmp_path: Path, dest: Path) -> None:
    archive = make_zip(tmp_path / "a.zip", [*GOOD, ("wrap/cat/sub/x.png", PNG)])
    assert_rejected(archive, dest, "layout", "'wrap/cat/sub'")


def test_single_class(tmp_path: Path, dest: Path) -> None:
    archive = make_zip(tmp_path / "a.zip", [("cat/a.png", PNG), ("cat/b.png", PNG)])
    assert_rejected(archive, dest, "layout", "'cat'")


def test_empty_class_folder(tmp_path: Path, dest: Path) -> None:
    archive = make_tar(tmp_path / "a.tgz", [*GOOD, ("wrap/bird/", b"")])
    assert_rejected(archive, dest, "empty", "'wrap/bird'")


def test_archive_of_only_junk(tmp_path: Path, dest: Path) -> None:
    archive = make_zip(tmp_path / "junk.zip", [("__MACOSX/._x", b"j"), (".DS_Store", b"j")])
    assert_rejected(archive, dest, "empty", "'junk.zip'")


def test_scan_rejects_symlink_in_plain_directory(tmp_path: Path) -> None:
    root = tmp_path / "data"
    for cls in ("a", "b"):
        (root / cls).mkdir(parents=True)
        (root / cls / "x.png").write_bytes(PNG)
    (root / "b" / "y.png").symlink_to(root / "a" / "x.png")
    with pytest.raises(ArchiveError) as caught:
        scan_image_folder(root)
    assert caught.value.rule == "link"
    assert "'b/y.png'" in str(caught.value)


def test_scan_rejects_files_at_root_of_plain_directory(tmp_path: Path) -> None:
    root = tmp_path / "data"
    for cls in ("a", "b"):
        (root / cls).mkdir(parents=True)
        (root / cls / "x.png").write_bytes(PNG)
    (root / "stray.png").write_bytes(PNG)
    with pytest.raises(ArchiveError) as caught:
        scan_image_folder(root)
    assert caught.value.rule == "layout"
    assert "'stray.png'" in str(caught.value)


# ---- behaviour around the rules ---------------------------------------------------------------------


def test_pre_existing_dest_content_is_refused(tmp_path: Path, dest: Path) -> None:
    dest.mkdir()
    (dest / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError):
        extract_archive(make_zip(tmp_path / "a.zip", GOOD), dest)
    assert (dest / "keep.txt").read_text() == "mine"


def test_dest_is_clean_after_rejection_during_extraction(tmp_path: Path, dest: Path) -> None:
    # The bad image is only found after everything was written, so there is something to undo.
    archive = make_tar(tmp_path / "a.tgz", [*GOOD, ("wrap/dog/zz.png", b"not a png")])
    assert_rejected(archive, dest, "not_an_image", "'wrap/dog/zz.png'")
    # And the same folder is usable again afterwards.
    assert extract_archive(make_tar(tmp_path / "b.tgz", GOOD), dest).name == "wrap"


def test_archive_error_survives_pickling() -> None:
    error = ArchiveError("archive member 'x' is bad (link)", rule="link")
    copy = pickle.loads(pickle.dumps(error))
    assert isinstance(copy, ArchiveError)
    assert (copy.rule, str(copy)) == ("link", str(error))


def test_tar_stream_of_repeated_headers_trips_the_byte_counter(tmp_path: Path, dest: Path) -> None:
    # Directory entries declare no data, so only the counter on decompressed bytes sees this.
    headers = [tar_member("wrap/cat", kind=tarfile.DIRTYPE, mtime=0) for _ in range(5000)]
    archive = make_tar(tmp_path / "a.tgz", [*GOOD, *headers])
    assert archive.stat().st_size < 20_000
    error = assert_rejected(archive, dest, "compression_ratio", "'wrap/cat'")
    assert "'a.tgz'" in str(error)
