"""Decoding and resizing of images, shared by training, evaluation, every runtime and the Android library.

The resize is bilinear (half-pixel centres, edge clamp) in 11-bit fixed point, integer
arithmetic only, so that the plain-Java library in ``android_demo`` reproduces it byte for
byte (see ``ImageResizer.java``). Do not replace it with PIL's or TF's resize without
changing the Java twin.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
_FRAC_BITS = 11
_ONE = 1 << _FRAC_BITS


class UnreadableImage(ValueError):
    """The file is not a decodable image."""


def decode_rgb(path: str | Path) -> np.ndarray:
    """Decode any PIL-readable image to uint8 RGB (grayscale, palette and RGBA are converted)."""
    from PIL import Image

    try:
        with Image.open(path) as im:
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
    except Exception as e:  # PIL raises many types for corrupt data
        raise UnreadableImage(f"{path}: {type(e).__name__}: {e}") from None


def _axis_weights(n_in: int, n_out: int):
    """Source indices and 11-bit weights of each output index (mirrored in ImageResizer.java)."""
    i = np.arange(n_out, dtype=np.int64)
    num = (2 * i + 1) * n_in - n_out  # 2*n_out * ((i + 0.5) * n_in / n_out - 0.5)
    num = np.maximum(num, 0)
    pos = (num * _ONE) // (2 * n_out)
    i0 = pos >> _FRAC_BITS
    frac = pos & (_ONE - 1)
    last = i0 >= n_in - 1
    i0 = np.where(last, n_in - 1, i0)
    i1 = np.where(last, n_in - 1, i0 + 1)
    frac = np.where(last, 0, frac)
    return i0, i1, frac


def resize_rgb(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize a HxWxC uint8 image to (height, width) with integer bilinear interpolation."""
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    if image.shape[0] == height and image.shape[1] == width:
        return image.astype(np.uint8, copy=False)
    y0, y1, fy = _axis_weights(image.shape[0], height)
    x0, x1, fx = _axis_weights(image.shape[1], width)
    img = image.astype(np.int64)
    fx_ = fx[None, :, None]
    top = img[y0][:, x0] * (_ONE - fx_) + img[y0][:, x1] * fx_
    bot = img[y1][:, x0] * (_ONE - fx_) + img[y1][:, x1] * fx_
    fy_ = fy[:, None, None]
    val = top * (_ONE - fy_) + bot * fy_
    out = (val + (1 << (2 * _FRAC_BITS - 1))) >> (2 * _FRAC_BITS)
    return np.clip(out, 0, 255).astype(np.uint8)


def load_image(path: str | Path, height: int, width: int) -> np.ndarray:
    return resize_rgb(decode_rgb(path), height, width)
