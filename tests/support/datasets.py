"""Small real image-folder archives for the dataset tests."""

from __future__ import annotations

import io
import os
import zipfile

from PIL import Image


def shapes_zip() -> bytes:
    """Two classes of shapes, and one noise image so no other run uploads the same bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        noise = io.BytesIO()
        Image.frombytes("RGB", (16, 16), os.urandom(16 * 16 * 3)).save(noise, format="PNG")
        archive.writestr("shapes/red/noise.png", noise.getvalue())
        for label, color in (("red", (220, 20, 20)), ("blue", (20, 20, 220))):
            for i in range(6):
                image = io.BytesIO()
                Image.new("RGB", (16 + i, 16), color).save(image, format="PNG")
                archive.writestr(f"shapes/{label}/{i}.png", image.getvalue())
    return buffer.getvalue()


def escaping_zip() -> bytes:
    """A hostile archive: one member would land outside the folder it is extracted into."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("../../escaped.png", shapes_zip())
        archive.writestr("shapes/red/0.png", b"not really")
    return buffer.getvalue()
