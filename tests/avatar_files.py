"""Real image files for the avatar tests (R20), made with Pillow: JPEGs of a chosen size in
bytes, a PNG, a cut-off JPEG, decompression bombs, photos with EXIF (GPS, orientation)."""

from __future__ import annotations

import io
import random
import struct

from PIL import ExifTags, Image

MB = 1024 * 1024


def jpeg(width: int = 640, height: int = 480, *, color=(200, 80, 40), **save) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, "JPEG", **save)
    return out.getvalue()


def noisy_jpeg(target_bytes: int, *, seed: int = 1, tolerance: float = 0.02) -> bytes:
    """A real photo-sized JPEG of about ``target_bytes`` (within ``tolerance``): random noise
    at high quality barely compresses, so its size follows its pixel count."""
    rng = random.Random(seed)
    side = 1000
    for _ in range(8):
        width, height = side, side * 3 // 4
        image = Image.frombytes("RGB", (width, height), rng.randbytes(width * height * 3))
        out = io.BytesIO()
        image.save(out, "JPEG", quality=95)
        size = len(out.getvalue())
        if abs(size - target_bytes) <= target_bytes * tolerance:
            return out.getvalue()
        side = max(64, int(side * (target_bytes / size) ** 0.5))
    raise AssertionError(f"could not make a JPEG of {target_bytes} bytes")


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (300, 300), (10, 120, 200)).save(out, "PNG")
    return out.getvalue()


def truncated() -> bytes:
    whole = noisy_jpeg(200_000)
    return whole[: len(whole) // 2]


def with_header_size(data: bytes, width: int, height: int) -> bytes:
    """``data`` (a baseline JPEG) whose frame header (SOF0) claims another size: a few
    kilobytes that say they decode to ``width`` × ``height`` pixels."""
    at = data.index(b"\xff\xc0")
    return data[: at + 5] + struct.pack(">HH", height, width) + data[at + 9 :]


def bomb(width: int = 30_000, height: int = 30_000) -> bytes:
    return with_header_size(jpeg(64, 64), width, height)


def with_exif(width: int = 300, height: int = 200, *, orientation: int = 6) -> bytes:
    """Left half red, right half blue, with a GPS position, a camera and an orientation."""
    image = Image.new("RGB", (width, height), (220, 0, 0))
    image.paste((0, 0, 220), (width // 2, 0, width, height))
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    exif[ExifTags.Base.Make] = "Pixelphone"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (1.0, 17.0, 30.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (103.0, 51.0, 0.0)
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, quality=95)
    return out.getvalue()
