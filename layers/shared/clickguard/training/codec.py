"""The bytes distributed training passes between its steps (partials, pass requests and results, the run's state):
msgpack, with numpy arrays as an extension type (dtype, shape, raw little-endian bytes), so an array comes back
bit for bit and nothing is parsed from text."""

from __future__ import annotations

from typing import Any

import msgspec
import numpy as np

_NDARRAY = 1


def _enc_hook(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        arr = np.ascontiguousarray(obj)
        if arr.dtype.byteorder == ">":
            arr = arr.astype(arr.dtype.newbyteorder("<"))
        if arr.dtype.kind == "O":
            raise TypeError("object arrays cannot be encoded")
        head = msgspec.msgpack.encode((arr.dtype.str, list(arr.shape)))
        return msgspec.msgpack.Ext(_NDARRAY, len(head).to_bytes(4, "little") + head + arr.tobytes())
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    raise TypeError(f"cannot encode {type(obj).__name__}")


def _ext_hook(code: int, data: memoryview) -> Any:
    if code != _NDARRAY:
        raise ValueError(f"unknown extension type {code}")
    size = int.from_bytes(data[:4], "little")
    dtype, shape = msgspec.msgpack.decode(data[4 : 4 + size])
    return np.frombuffer(data[4 + size :], dtype=np.dtype(dtype)).reshape(shape).copy()


_ENCODER = msgspec.msgpack.Encoder(enc_hook=_enc_hook)
_DECODER = msgspec.msgpack.Decoder(ext_hook=_ext_hook)


def encode(obj: Any) -> bytes:
    return _ENCODER.encode(obj)


def decode(data: bytes) -> Any:
    return _DECODER.decode(data)
