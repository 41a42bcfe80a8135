"""XMP as photo apps write it, for the keyword tests: a packet with dc:subject, lr:hierarchicalSubject and digiKam's
TagsList, and a real JPEG carrying a packet in APP1 and IPTC keywords in APP13."""

from __future__ import annotations

import struct
from pathlib import Path

import imagemakers as mk


def xmp_packet(subjects: list[str] = (), hierarchical: list[str] = (), digikam: list[str] = ()) -> bytes:
    def bag(tag: str, items) -> str:
        if not items:
            return ""
        lis = "".join(f"<rdf:li>{item}</rdf:li>" for item in items)
        return f"<{tag}><rdf:Bag>{lis}</rdf:Bag></{tag}>"

    return (
        '<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:lr="http://ns.adobe.com/lightroom/1.0/" xmlns:digiKam="http://www.digikam.org/ns/1.0/" '
        'xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:Rating="4">'
        f'{bag("dc:subject", subjects)}{bag("lr:hierarchicalSubject", hierarchical)}'
        f'{bag("digiKam:TagsList", digikam)}'
        '</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
    ).encode()


def _segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def jpeg_with(path: Path, *, packet: bytes | None = None, iptc: list[str] = (), seed: int = 0) -> Path:
    """A real JPEG with an XMP packet in APP1 and IPTC keywords in APP13, the way cameras and apps write them."""
    data = mk.jpeg_bytes(mk.photo_array(24, 16, seed))
    extra = b""
    if packet is not None:
        extra += _segment(0xE1, b"http://ns.adobe.com/xap/1.0/\x00" + packet)
    if iptc:
        records = b"".join(b"\x1c\x02\x19" + struct.pack(">H", len(k.encode())) + k.encode() for k in iptc)
        resource = b"8BIM" + struct.pack(">H", 0x0404) + b"\x00\x00" + struct.pack(">I", len(records)) + records
        resource += b"\x00" * (len(records) % 2)
        extra += _segment(0xED, b"Photoshop 3.0\x00" + resource)
    return mk.write(path, data[:2] + extra + data[2:])
