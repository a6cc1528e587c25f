"""Damaged and hostile import archives, made byte by byte (issue 10, item 11).

Each is what a broken disk, a truncated download or an attacker produces: the zip's structure
is readable (so it passes the cheap checks of the request) and its content is not.
"""

from __future__ import annotations

import io
import struct
import zipfile

from tests.dataport.support import jsonl

AGENTS = jsonl(*({"name": f"Agent {n}", "role": "r" * 200} for n in range(5))).encode()

# Offsets of the fields a single-entry zip's headers share (local header, central directory).
_LOCAL = b"PK\x03\x04"
_CENTRAL = b"PK\x01\x02"
_FIELDS = {"flags": (6, 8, "<H"), "method": (8, 10, "<H"), "crc": (14, 16, "<I")}
_SIZES = {"compressed": (18, 20), "size": (22, 24)}


def one_entry(name: str, data: bytes, method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        archive.writestr(name, data)
    return buffer.getvalue()


def patch_headers(zipped: bytes, **values: int) -> bytes:
    """Set `flags`, `method`, `crc` or `size` (uncompressed) in both headers of the entry."""
    data = bytearray(zipped)
    for signature, shift in ((_LOCAL, 0), (_CENTRAL, 2)):  # central fields sit 2 bytes later
        at = data.index(signature)
        for name, value in values.items():
            if name == "size":
                start = at + _SIZES["size"][0] + shift
                data[start : start + 4] = struct.pack("<I", value)
            else:
                start = at + _FIELDS[name][0] + shift
                fmt = _FIELDS[name][2]
                data[start : start + struct.calcsize(fmt)] = struct.pack(fmt, value)
    return bytes(data)


def _payload_span(zipped: bytes) -> tuple[int, int]:
    info = zipfile.ZipFile(io.BytesIO(zipped)).infolist()[0]
    header = zipped[info.header_offset : info.header_offset + 30]
    name_length, extra_length = struct.unpack("<HH", header[26:30])
    start = info.header_offset + 30 + name_length + extra_length
    return start, start + info.compress_size


def bad_crc() -> bytes:
    """A stored entry with one byte changed after its CRC was written."""
    zipped = bytearray(one_entry("agents.jsonl", AGENTS, zipfile.ZIP_STORED))
    start, _ = _payload_span(bytes(zipped))
    zipped[start + 20] ^= 0x01  # inside the first agent's name: still valid JSON
    return bytes(zipped)


def corrupt_deflate() -> bytes:
    """The deflate stream itself broken (zlib refuses it before any CRC is computed)."""
    zipped = bytearray(one_entry("agents.jsonl", AGENTS))
    start, _ = _payload_span(bytes(zipped))
    zipped[start : start + 8] = b"\xff" * 8
    return bytes(zipped)


def encrypted_flag() -> bytes:
    return patch_headers(one_entry("agents.jsonl", AGENTS), flags=0x1)


def unsupported_compression() -> bytes:
    return patch_headers(one_entry("agents.jsonl", AGENTS), method=99)


def lying_size_smaller() -> bytes:
    """Declares fewer bytes than the entry holds (reading stops early; the CRC cannot match)."""
    return patch_headers(one_entry("agents.jsonl", AGENTS), size=len(AGENTS) // 3)


def truncated() -> bytes:
    """The entry's data cut short by a byte and padded with zeros: every offset after it is
    off by one (as after a transfer that lost bytes)."""
    zipped = one_entry("agents.jsonl", AGENTS)
    start, end = _payload_span(zipped)
    return zipped[: (start + end) // 2] + b"\x00" * ((end - start) // 2) + zipped[end:]


DAMAGED = {
    "bad_crc": bad_crc,
    "corrupt_deflate": corrupt_deflate,
    "encrypted_flag": encrypted_flag,
    "unsupported_compression": unsupported_compression,
    "lying_size_smaller": lying_size_smaller,
    "truncated": truncated,
}
# Refused from the archive's directory alone (the request answers at once).
REFUSED_UPFRONT = frozenset({"encrypted_flag", "unsupported_compression"})
