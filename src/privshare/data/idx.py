"""IDX files (the MNIST / Fashion-MNIST format), parsed with numpy.

Layout: a 4-byte big-endian magic ``0x0000 TT NN`` (TT = element type, 0x08
for unsigned bytes; NN = number of dimensions), NN big-endian uint32 sizes,
then the data. Images are ``0x00000803`` (n, rows, cols), labels
``0x00000801`` (n,).
"""

from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path

import numpy as np

from privshare.data.dataset import DataError

MAGIC = {3: 0x00000803, 1: 0x00000801}  # ndim -> magic of unsigned-byte arrays


def _raw_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise DataError(f"{path}: cannot read the file ({err})") from err
    if path.suffix != ".gz":
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as err:
        raise DataError(f"{path}: not a complete gzip file ({err}); the file is truncated or "
                        "corrupt: download it again") from err


def read_idx(path: str | Path, *, ndim: int) -> np.ndarray:
    """Read one unsigned-byte IDX file (optionally gzipped) and check its header.

    Parameters
    ----------
    path : str or Path
        The file.
    ndim : int
        Expected dimensions: 3 for images (magic 0x00000803), 1 for labels (0x00000801).

    Returns
    -------
    np.ndarray
        uint8 array of the shape the header announces.
    """
    path = Path(path)
    raw = _raw_bytes(path)
    if len(raw) < 4:
        raise DataError(f"{path}: {len(raw)} bytes, too short for an IDX header; download it again")
    magic = int(np.frombuffer(raw, dtype=">u4", count=1)[0])
    if magic != MAGIC[ndim]:
        raise DataError(f"{path}: bad magic number 0x{magic:08x}, expected 0x{MAGIC[ndim]:08x} "
                        f"(unsigned bytes, {ndim}-D); this is not the expected IDX file")
    head = 4 + 4 * ndim
    if len(raw) < head:
        raise DataError(f"{path}: IDX header truncated ({len(raw)} bytes, need {head})")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    need = math.prod(dims)
    if len(raw) - head != need:
        raise DataError(
            f"{path}: header announces shape {dims} ({need} bytes) but the file holds "
            f"{len(raw) - head} bytes; the file is truncated or corrupt: download it again"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=head).reshape(dims).copy()
