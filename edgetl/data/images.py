"""Decoding and resizing of images, shared by training, evaluation, every runtime and the Android library.

The resize is the one MediaPipe Tasks' ImageClassifier applies on CPU (its ImageToTensorCalculator:
the whole image stretched to the tensor, no crop, OpenCV ``warpPerspective`` with INTER_LINEAR
and BORDER_REPLICATE), reproduced in integer arithmetic: output pixel ``i`` samples source
position ``i * n_in / n_out`` (top-left aligned, not half-pixel centres) rounded to 1/32 pixel,
bilinear with 5-bit weights per axis, edge pixels replicated. Measured identical, byte for byte,
to MediaPipe 1.2.2's tensors on losslessly stored images (benchmarks/bench_clients.py; JPEG
decoders differ by a level or two on ~1% of pixels). The plain-Java library in ``android_demo``
reproduces it byte for byte (``ImageResizer.java``). Do not replace it with PIL's or TF's resize
without changing the Java twin, and see docs/clients.md.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
RESIZE_METHOD = "stretch-bilinear-topleft-int5"  # the contract's input.resize (Java: ImageResizer.METHOD)
_FRAC_BITS = 5  # OpenCV's INTER_BITS: source positions in 1/32 pixel
_ONE = 1 << _FRAC_BITS


MIN_IMAGE_SIDE = 16  # smaller images (icons, 1x1 tracking pixels) are skipped and counted
MAX_DECODE_PIXELS = 50_000_000  # left to decode after the JPEG size hint; beyond: skipped as "too large"


class UnreadableImage(ValueError):
    """The file is not a decodable image. ``reason`` is the short skip reason shown to the user."""

    reason = "unreadable"


class ImageTooLarge(UnreadableImage):
    reason = "too large"


class ImageTooSmall(UnreadableImage):
    reason = "too small"


def decode_rgb(path: str | Path, size_hint: tuple | None = None) -> np.ndarray:
    """Decode any PIL-readable image to uint8 RGB (grayscale, palette and RGBA are converted).

    ``size_hint`` (height, width): the size the caller resizes to. A JPEG much larger than that is
    decoded at a reduced scale (PIL ``draft``: 1/2, 1/4 or 1/8, never below twice the hint), so a
    100-Mpx photo costs megabytes, not gigabytes. More than ``MAX_DECODE_PIXELS`` left to decode
    raises ``ImageTooLarge``; a side below ``MIN_IMAGE_SIDE`` raises ``ImageTooSmall``.
    """
    import warnings

    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            opened = Image.open(path)
    except Image.DecompressionBombError as e:
        raise ImageTooLarge(f"{path}: too large ({e})") from e
    except Exception as e:  # PIL raises many types for corrupt data
        raise UnreadableImage(f"{path}: {type(e).__name__}: {e}") from e
    try:
        with opened as im:
            w, h = im.size
            if min(w, h) < MIN_IMAGE_SIDE:
                raise ImageTooSmall(f"{path}: too small ({w}x{h} px; the minimum side is {MIN_IMAGE_SIDE} px)")
            if size_hint and im.format == "JPEG":
                im.draft("RGB", (2 * int(size_hint[1]), 2 * int(size_hint[0])))  # im.size becomes the reduced size
            if im.size[0] * im.size[1] > MAX_DECODE_PIXELS:
                raise ImageTooLarge(f"{path}: too large ({w}x{h} px = {w * h / 1e6:.0f} Mpx; the cap is "
                                    f"{MAX_DECODE_PIXELS / 1e6:.0f} Mpx to decode)")
            im.load()
            if im.mode != "RGB":
                if im.mode in ("RGBA", "LA") or (im.mode == "P" and "transparency" in im.info):
                    # Composite on white rather than dropping alpha to black artefacts.
                    rgba = im.convert("RGBA")
                    bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                    im = Image.alpha_composite(bg, rgba).convert("RGB")
                else:
                    im = im.convert("RGB")
            return np.asarray(im, dtype=np.uint8).copy()
    except UnreadableImage:
        raise
    except MemoryError as e:
        raise ImageTooLarge(f"{path}: too large to decode in memory") from e
    except Exception as e:  # PIL raises many types for corrupt data
        raise UnreadableImage(f"{path}: {type(e).__name__}: {e}") from e


def _axis_weights(n_in: int, n_out: int):
    """Source indices and 5-bit weights of each output index (mirrored in ImageResizer.java).

    Position ``i * n_in / n_out`` in 1/32 pixel, rounded half up; a neighbour past the edge is the edge.
    """
    i = np.arange(n_out, dtype=np.int64)
    pos = (2 * i * n_in * _ONE + n_out) // (2 * n_out)
    i0 = np.minimum(pos >> _FRAC_BITS, n_in - 1)
    i1 = np.minimum(i0 + 1, n_in - 1)
    frac = pos & (_ONE - 1)
    return i0, i1, frac


def resize_rgb(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Stretch a HxWxC uint8 image to (height, width) with MediaPipe's bilinear sampling, in integers."""
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    if image.shape[0] == height and image.shape[1] == width:
        return image.astype(np.uint8, copy=False)
    y0, y1, fy = _axis_weights(image.shape[0], height)
    x0, x1, fx = _axis_weights(image.shape[1], width)
    rows0, rows1 = image[y0].astype(np.int64), image[y1].astype(np.int64)  # rows first: no int64 copy of a big image
    fx_ = fx[None, :, None]
    top = rows0[:, x0] * (_ONE - fx_) + rows0[:, x1] * fx_
    bot = rows1[:, x0] * (_ONE - fx_) + rows1[:, x1] * fx_
    fy_ = fy[:, None, None]
    val = top * (_ONE - fy_) + bot * fy_
    out = (val + (1 << (2 * _FRAC_BITS - 1))) >> (2 * _FRAC_BITS)
    return np.clip(out, 0, 255).astype(np.uint8)


def load_image(path: str | Path, height: int, width: int) -> np.ndarray:
    return resize_rgb(decode_rgb(path, (height, width)), height, width)
