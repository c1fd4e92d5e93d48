"""The protobuf wire format, decoded by hand: what the tfevents and W&B readers share.

Both file formats frame serialized protobufs; walking their fields needs only varints and
lengths, so neither reader depends on protobuf, tensorboard or wandb.
"""

from __future__ import annotations

from collections.abc import Iterator


class Malformed(ValueError):
    """A record whose checksum is right but whose protobuf does not parse."""


def varint(buf: bytes, p: int) -> tuple[int, int]:
    """(value, position after it) of the varint at `p`."""
    value = 0
    shift = 0
    while True:
        b = buf[p]
        p += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, p
        shift += 7
        if shift >= 70:
            raise Malformed("varint longer than 10 bytes")


def fields(buf: bytes, start: int, stop: int) -> Iterator[tuple[int, int, int, int]]:
    """(field number, wire type, a, b) per field: a varint's value in `a`, else its byte span."""
    p = start
    while p < stop:
        key, p = varint(buf, p)
        wire = key & 7
        if wire == 0:
            value, p = varint(buf, p)
            if p > stop:
                raise Malformed("varint runs past its message")
            yield key >> 3, 0, value, p
            continue
        if wire == 1:
            a, p = p, p + 8
        elif wire == 2:
            size, a = varint(buf, p)
            p = a + size
        elif wire == 5:
            a, p = p, p + 4
        else:
            raise Malformed(f"unsupported wire type {wire}")
        if p > stop:
            raise Malformed("field runs past its message")
        yield key >> 3, wire, a, p
