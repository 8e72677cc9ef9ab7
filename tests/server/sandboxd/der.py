"""Minimal DER reader and writer: enough for PKCS#10 attributes, CMS SignedData and CMC.

The python cryptography package (38) has no CMS parser and no CMC builder, so the sandbox reads
and writes those structures itself. Only definite lengths are accepted (DER, not BER), which is
what Windows and OpenSSL produce for these messages.
"""

from __future__ import annotations

from dataclasses import dataclass

INTEGER = 0x02
BIT_STRING = 0x03
OCTET_STRING = 0x04
NULL = 0x05
OID = 0x06
UTF8_STRING = 0x0C
PRINTABLE_STRING = 0x13
IA5_STRING = 0x16
BMP_STRING = 0x1E
SEQUENCE = 0x30
SET = 0x31


class DerError(ValueError):
    """The bytes are not the DER structure that was expected."""


@dataclass
class Node:
    """One TLV: tag byte, content bytes, and the full encoding (for signatures over raw DER)."""

    tag: int
    content: bytes
    raw: bytes

    @property
    def constructed(self) -> bool:
        return bool(self.tag & 0x20)

    def children(self) -> list["Node"]:
        if not self.constructed:
            raise DerError(f"tag 0x{self.tag:02x} is primitive, it has no children")
        return parse_all(self.content)

    def context(self, number: int) -> bool:
        return (self.tag & 0xC0) == 0x80 and (self.tag & 0x1F) == number


def parse_one(data: bytes, offset: int = 0) -> tuple[Node, int]:
    """Reads one TLV at offset; returns it and the offset after it."""
    if offset + 2 > len(data):
        raise DerError("truncated DER: no room for tag and length")
    tag = data[offset]
    if tag & 0x1F == 0x1F:
        raise DerError("multi-byte tags are not supported")
    length = data[offset + 1]
    pos = offset + 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4:
            raise DerError("indefinite or oversized DER length")
        if pos + count > len(data):
            raise DerError("truncated DER length")
        length = int.from_bytes(data[pos:pos + count], "big")
        pos += count
    end = pos + length
    if end > len(data):
        raise DerError("DER length runs past the end of the data")
    return Node(tag, data[pos:end], data[offset:end]), end


def parse(data: bytes) -> Node:
    """Parses exactly one TLV that spans all of data."""
    node, end = parse_one(data)
    if end != len(data):
        raise DerError("trailing bytes after the DER structure")
    return node


def parse_all(data: bytes) -> list[Node]:
    nodes = []
    offset = 0
    while offset < len(data):
        node, offset = parse_one(data, offset)
        nodes.append(node)
    return nodes


def decode_oid(node: Node) -> str:
    if node.tag != OID:
        raise DerError(f"expected an OBJECT IDENTIFIER, got tag 0x{node.tag:02x}")
    values = []
    current = 0
    for byte in node.content:
        current = (current << 7) | (byte & 0x7F)
        if not byte & 0x80:
            values.append(current)
            current = 0
    if not values:
        raise DerError("empty OBJECT IDENTIFIER")
    first = min(values[0] // 40, 2)
    return ".".join(str(v) for v in [first, values[0] - 40 * first] + values[1:])


def decode_int(node: Node) -> int:
    if node.tag != INTEGER:
        raise DerError(f"expected an INTEGER, got tag 0x{node.tag:02x}")
    return int.from_bytes(node.content, "big", signed=True)


def decode_string(node: Node) -> str:
    """Decodes the string types Windows uses in requests (BMPString for template names)."""
    if node.tag == BMP_STRING:
        return node.content.decode("utf-16-be")
    if node.tag in (UTF8_STRING, PRINTABLE_STRING, IA5_STRING):
        return node.content.decode("utf-8")
    raise DerError(f"expected a string, got tag 0x{node.tag:02x}")


# Writers.

def tlv(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    size = (n.bit_length() + 7) // 8
    return bytes([tag, 0x80 | size]) + n.to_bytes(size, "big") + content


def seq(*items: bytes) -> bytes:
    return tlv(SEQUENCE, b"".join(items))


def set_of(*items: bytes) -> bytes:
    # Callers pass items in the order they want: Windows writes the PKCS#7 certificate SET as
    # root, CA, leaf (not DER-sorted), and the sandbox reproduces that on purpose.
    return tlv(SET, b"".join(items))


def set_of_sorted(*items: bytes) -> bytes:
    """A DER SET OF: elements sorted by their encodings (X.690 11.6)."""
    return tlv(SET, b"".join(sorted(items)))


def integer(value: int) -> bytes:
    size = max(1, (value.bit_length() + 8) // 8)
    return tlv(INTEGER, value.to_bytes(size, "big", signed=True))


def oid(dotted: str) -> bytes:
    parts = [int(p) for p in dotted.split(".")]
    values = [parts[0] * 40 + parts[1]] + parts[2:]
    out = bytearray()
    for value in values:
        chunk = [value & 0x7F]
        value >>= 7
        while value:
            chunk.append(0x80 | (value & 0x7F))
            value >>= 7
        out.extend(reversed(chunk))
    return tlv(OID, bytes(out))


def octet_string(data: bytes) -> bytes:
    return tlv(OCTET_STRING, data)


def utf8(text: str) -> bytes:
    return tlv(UTF8_STRING, text.encode("utf-8"))


def bmp(text: str) -> bytes:
    return tlv(BMP_STRING, text.encode("utf-16-be"))


def null() -> bytes:
    return b"\x05\x00"


def explicit(number: int, content: bytes) -> bytes:
    return tlv(0xA0 | number, content)


def implicit_constructed(number: int, content: bytes) -> bytes:
    return tlv(0xA0 | number, content)
