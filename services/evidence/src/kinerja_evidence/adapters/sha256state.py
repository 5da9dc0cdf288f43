"""SHA-256 whose state can be saved between requests: a resumable upload's whole-file hash is
computed while its parts stream through, across requests, restarts and replicas.

hashlib cannot export its state, so this calls OpenSSL's SHA256_Init/Update/Final through
ctypes (the same libcrypto hashlib uses) and keeps the plain ``SHA256_CTX`` struct (112 bytes)
as the state. Where libcrypto cannot be loaded, :data:`AVAILABLE` is False and the caller
hashes the finished object by reading it back instead.
"""

from __future__ import annotations

import ctypes
import ctypes.util

CTX_SIZE = 112  # sizeof(SHA256_CTX): h[8], Nl, Nh, data[16], num, md_len (all 32-bit)


def _load():
    name = ctypes.util.find_library("crypto")
    if not name:
        return None
    try:
        lib = ctypes.CDLL(name)
        for fn in ("SHA256_Init", "SHA256_Update", "SHA256_Final"):
            getattr(lib, fn).restype = ctypes.c_int
        lib.SHA256_Init.argtypes = [ctypes.c_void_p]
        lib.SHA256_Update.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t]
        lib.SHA256_Final.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    except (OSError, AttributeError):
        return None
    return lib


_LIB = _load()
AVAILABLE = _LIB is not None


class ResumableSha256:
    def __init__(self, state: bytes | None = None) -> None:
        if _LIB is None:
            raise RuntimeError("libcrypto tidak tersedia")
        if state is None:
            self._ctx = ctypes.create_string_buffer(CTX_SIZE)
            _LIB.SHA256_Init(self._ctx)
        else:
            if len(state) != CTX_SIZE:
                raise ValueError("state SHA-256 tidak valid")
            self._ctx = ctypes.create_string_buffer(bytes(state), CTX_SIZE)

    def update(self, data: bytes | bytearray) -> None:
        # A bytearray is hashed in place (no copy of a part's megabytes).
        buffer = (ctypes.c_char * len(data)).from_buffer(data) if isinstance(data, bytearray) else bytes(data)
        _LIB.SHA256_Update(self._ctx, buffer, len(data))  # type: ignore[union-attr]

    def state(self) -> bytes:
        return self._ctx.raw

    def hexdigest(self) -> str:
        # Final on a copy: the saved state stays usable.
        ctx = ctypes.create_string_buffer(self._ctx.raw, CTX_SIZE)
        out = ctypes.create_string_buffer(32)
        _LIB.SHA256_Final(out, ctx)  # type: ignore[union-attr]
        return out.raw.hex()
