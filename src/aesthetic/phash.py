"""Perceptual hashes of images: the one definition the data audit and burst culling share."""

from __future__ import annotations

import numpy as np


def phash64(image: np.ndarray) -> int:
    """imagehash's pHash of an RGB uint8 image as a 64-bit unsigned integer."""
    import imagehash
    from PIL import Image

    bits = imagehash.phash(Image.fromarray(image)).hash.reshape(-1)
    return int(np.packbits(bits.astype(np.uint8)).view(">u8")[0])


def hamming_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(len(a), len(b)) uint8`` Hamming distances between two arrays of uint64 hashes."""
    return np.bitwise_count(a[:, None] ^ b[None, :]).astype(np.uint8)
