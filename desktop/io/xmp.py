"""Keywords from XMP and IPTC, read safely from untrusted files: an XMP sidecar, the XMP packet inside a photo
(a JPEG's APP1 segment, or the packet anywhere in other files), and a JPEG's IPTC keywords (APP13).

The XML is parsed by ``defusedxml`` with no DTD allowed (so no entity expansion, no external entities), under
our own caps on the bytes read, the number of elements and their depth: a hostile file gives no keywords and a
reason, never a hang or a crash. Keywords come back as tuples of levels: ``("Animals", "Birds")`` for
Lightroom's ``Animals|Birds`` or digiKam's ``Animals/Birds``, ``("Pigeon",)`` for a flat ``dc:subject``."""

from __future__ import annotations

import io
import os
import stat
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse

from desktop.io.files import FileReadError, read_regular_file

MAX_SIDECAR_BYTES = 4 * 1024 * 1024  # a real sidecar is a few KB; darktable's history makes it tens of KB
# Where a photo's XMP packet is looked for outside JPEG (HEIC, PNG, WebP, TIFF-based RAW): its first and last
# megabytes, where writers put metadata; the pixels between are never read a second time on import.
HEAD_BYTES, TAIL_BYTES = 4 * 1024 * 1024, 1024 * 1024
MAX_ELEMENTS = 50_000
MAX_DEPTH = 64
MAX_KEYWORD_CHARS = 500

DC = "http://purl.org/dc/elements/1.1/"
LR = "http://ns.adobe.com/lightroom/1.0/"
DIGIKAM = "http://www.digikam.org/ns/1.0/"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_LISTS = {f"{{{DC}}}subject": None, f"{{{LR}}}hierarchicalSubject": "|", f"{{{DIGIKAM}}}TagsList": "/"}
_XMP_APP1 = b"http://ns.adobe.com/xap/1.0/\x00"
_PACKET_START, _PACKET_END = b"<x:xmpmeta", b"</x:xmpmeta>"
JPEG_SUFFIXES = frozenset({".jpg", ".jpeg", ".jpe"})

Keyword = tuple[str, ...]


class XmpError(ValueError):
    """The XMP cannot be read; the message says why in plain words."""


@dataclass
class Keywords:
    """What one photo or sidecar says: hierarchical keywords (more than one level) and flat ones."""

    found: list[Keyword] = field(default_factory=list)

    def add(self, keyword: Keyword) -> None:
        if keyword and keyword not in self.found:
            self.found.append(keyword)

    def merged(self) -> list[Keyword]:
        """Every keyword once; a flat one that is a level of a hierarchical one is left out (Lightroom writes
        ``Animals``, ``Birds`` and ``Animals|Birds`` for one tag)."""
        levels = {level.casefold() for keyword in self.found if len(keyword) > 1 for level in keyword}
        return [keyword for keyword in self.found if len(keyword) > 1 or keyword[0].casefold() not in levels]


def keywords_in_xmp(data: bytes) -> list[Keyword]:
    """The keywords of one XMP document (a sidecar's bytes or a packet). Raises :class:`XmpError`."""
    keywords = Keywords()
    for keyword in _parse(data):
        keywords.add(keyword)
    return keywords.merged()


def _parse(data: bytes) -> Iterable[Keyword]:
    if len(data) > MAX_SIDECAR_BYTES:
        raise XmpError(f"its XMP is larger than {MAX_SIDECAR_BYTES // (1024 * 1024)} MB")


    depth = elements = 0
    inside: list[str | None] = []  # the separator of each open keyword list (None: flat), innermost last
    try:
        for event, element in iterparse(io.BytesIO(data), events=("start", "end"), forbid_dtd=True):
            if event == "start":
                depth += 1
                elements += 1
                if depth > MAX_DEPTH or elements > MAX_ELEMENTS:
                    raise XmpError("its XMP is nested too deeply or has too many elements")
                if element.tag in _LISTS:
                    inside.append(_LISTS[element.tag])
                continue
            depth -= 1
            if element.tag in _LISTS:
                inside.pop()
            elif element.tag == f"{{{RDF}}}li" and inside:
                keyword = _split(element.text or "", inside[-1])
                if keyword:
                    yield keyword
            element.clear()
    except DefusedXmlException as exc:
        raise XmpError("its XMP declares entities or a document type, which are not allowed") from exc
    except SyntaxError as exc:  # ElementTree.ParseError
        raise XmpError(f"its XMP is not well-formed ({exc})") from exc


def _split(text: str, separator: str | None) -> Keyword:
    text = text.strip()[:MAX_KEYWORD_CHARS]
    parts = [text] if separator is None else text.split(separator)
    levels = tuple(part.strip() for part in parts if part.strip())
    return levels


# --- where the XMP of a photo is ----------------------------------------------------------------------------------

def keywords_of_file(path: Path) -> list[Keyword]:
    """A photo's own keywords: its embedded XMP, and for a JPEG its IPTC keywords. Raises :class:`XmpError`."""
    keywords = Keywords()
    try:
        if path.suffix.lower() in JPEG_SUFFIXES:
            xmp, iptc = _jpeg_metadata(path)
            for keyword in iptc:
                keywords.add(keyword)
        else:
            xmp = _packet_in(_head_and_tail(path))
    except FileReadError as exc:
        raise XmpError(str(exc)) from exc
    except OSError as exc:
        raise XmpError(exc.strerror or str(exc)) from exc
    if xmp:
        for keyword in _parse(xmp):
            keywords.add(keyword)
    return keywords.merged()


def keywords_of_sidecar(path: Path) -> list[Keyword]:
    try:
        data = read_regular_file(path, MAX_SIDECAR_BYTES)
    except FileReadError as exc:
        raise XmpError(str(exc)) from exc
    except OSError as exc:
        raise XmpError(exc.strerror or str(exc)) from exc
    return keywords_in_xmp(data)


def _open_regular(path: Path) -> BinaryIO:
    """``path`` opened for reading only if it is a regular file (checked on the descriptor, opened without
    blocking): a named pipe swapped in since the import never hangs the keyword pass."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise FileReadError(path, "it is not a regular file")
    return os.fdopen(fd, "rb")


def _head_and_tail(path: Path) -> bytes:
    with _open_regular(path) as file:
        head = file.read(HEAD_BYTES)
        if len(head) < HEAD_BYTES:
            return head
        size = file.seek(0, os.SEEK_END)
        file.seek(max(HEAD_BYTES, size - TAIL_BYTES))
        return head + file.read(TAIL_BYTES)


def _packet_in(data: bytes) -> bytes | None:
    start = data.find(_PACKET_START)
    if start < 0:
        return None
    end = data.find(_PACKET_END, start)
    return None if end < 0 else data[start:end + len(_PACKET_END)]


def _jpeg_metadata(path: Path) -> tuple[bytes | None, list[Keyword]]:
    """The XMP packet (APP1) and IPTC keywords (APP13) of a JPEG, read segment by segment up to the image data."""
    xmp: bytes | None = None
    iptc: list[Keyword] = []
    with _open_regular(path) as file:
        if file.read(2) != b"\xff\xd8":
            return None, []
        while True:
            header = file.read(4)
            if len(header) < 4 or header[0] != 0xFF:
                break
            marker, length = header[1], struct.unpack(">H", header[2:])[0]
            if marker == 0xDA or length < 2:  # start of scan: no metadata after it
                break
            body = file.read(length - 2)
            if marker == 0xE1 and body.startswith(_XMP_APP1) and xmp is None:
                xmp = body[len(_XMP_APP1):]
            elif marker == 0xED and body.startswith(b"Photoshop 3.0\x00"):
                iptc.extend(_iptc_keywords(body[14:]))
    return xmp, iptc


def _iptc_keywords(resources: bytes) -> list[Keyword]:
    """IPTC-IIM keywords (record 2, dataset 25) from Photoshop's image resources (``8BIM``, id 0x0404)."""
    found: list[Keyword] = []
    at = 0
    while at + 12 <= len(resources) and resources[at:at + 4] == b"8BIM":
        resource_id = struct.unpack(">H", resources[at + 4:at + 6])[0]
        name_length = resources[at + 6]
        at += 7 + name_length + ((name_length + 1) % 2)  # the Pascal name is padded to an even size
        if at + 4 > len(resources):
            break
        size = struct.unpack(">I", resources[at:at + 4])[0]
        at += 4
        block = resources[at:at + size]
        at += size + (size % 2)
        if resource_id != 0x0404:
            continue
        pos = 0
        while pos + 5 <= len(block) and block[pos] == 0x1C:
            record, dataset = block[pos + 1], block[pos + 2]
            length = struct.unpack(">H", block[pos + 3:pos + 5])[0]
            value = block[pos + 5:pos + 5 + length]
            pos += 5 + length
            if (record, dataset) == (2, 25):
                text = value.decode("utf-8", errors="replace").strip()[:MAX_KEYWORD_CHARS]
                if text:
                    found.append((text,))
    return found
