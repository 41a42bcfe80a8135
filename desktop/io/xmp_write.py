"""Keywords out: a class written as a keyword into an XMP sidecar, created or merged into an existing one.

An existing sidecar is parsed as safely as when reading (``desktop.io.xmp``: no DTD, the same caps), its comments,
processing instructions (the ``<?xpacket?>`` wrapper) and every namespace prefix kept, and only two lists
touched: ``dc:subject`` gains the class, ``lr:hierarchicalSubject`` gains ``<hierarchy>|<class>`` (and loses
the keywords an earlier run put under the same hierarchy). Everything else other apps wrote stays as it was."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from collections.abc import Callable

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import XMLParser, iterparse

from desktop.io.xmp import DC, LR, RDF, XmpError, keywords_in_xmp

X = "adobe:ns:meta/"
_PACKET_BEGIN = '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
_PACKET_END = '\n<?xpacket end="w"?>\n'
_NEW = (f'{_PACKET_BEGIN}<x:xmpmeta xmlns:x="{X}" x:xmptk="Pigeonhole">'
        f'<rdf:RDF xmlns:rdf="{RDF}"><rdf:Description rdf:about=""/></rdf:RDF></x:xmpmeta>{_PACKET_END}')


def with_keyword(existing: bytes | None, class_name: str, hierarchy: str = "Pigeonhole") -> bytes | None:
    """The sidecar's new bytes with ``class_name`` as a keyword, or None when it already says exactly that.
    Raises :class:`XmpError` for a sidecar that cannot be read safely (it is then left alone)."""
    if existing is not None:
        keywords_in_xmp(existing)  # the safety checks (size, DTD, depth, count) before anything else reads it
    data = existing if existing is not None else _NEW.encode()
    prefixes = _namespaces(data)
    for prefix, uri in {"x": X, "rdf": RDF, "dc": DC, "lr": LR, **prefixes}.items():
        ET.register_namespace(prefix, uri)
    root = _parse(data)
    description = root.find(f".//{{{RDF}}}Description")
    if description is None:
        rdf = root if root.tag == f"{{{RDF}}}RDF" else root.find(f".//{{{RDF}}}RDF")
        if rdf is None:
            raise XmpError("it is not an XMP document (no rdf:RDF)")
        description = ET.SubElement(rdf, f"{{{RDF}}}Description", {f"{{{RDF}}}about": ""})
    changed, replaced = False, []
    if hierarchy.strip("| "):
        prefix = hierarchy.strip("| ")
        changed, replaced = _add(root, description, f"{{{LR}}}hierarchicalSubject", f"{prefix}|{class_name}",
                                 lambda text: text.casefold().startswith(f"{prefix}|".casefold()))
    # An earlier run's class under the hierarchy goes from the flat list too; the user's own keywords stay.
    old_leaves = {text.split("|")[-1] for text in replaced}
    flat_changed, _ = _add(root, description, f"{{{DC}}}subject", class_name, lambda text: text in old_leaves)
    changed |= flat_changed
    if not changed and existing is not None:
        return None
    body = ET.tostring(root, encoding="unicode")
    if existing is None or b"<x:xmpmeta" not in existing:  # new, or a bare rdf:RDF: wrapped as XMP packets are
        return (_PACKET_BEGIN + body + _PACKET_END).encode()
    return (_head(existing) + body + _tail(existing)).encode()


def _add(root: ET.Element, description: ET.Element, tag: str, value: str,
         replaces: Callable[[str], bool]) -> tuple[bool, list[str]]:
    """Put ``value`` in the bag ``tag`` (wherever a Description holds it), dropping the other entries that
    ``replaces`` picks. Returns whether anything changed, and the entries dropped."""
    holder = next((element for element in root.iter(tag)), None)
    if holder is None:
        holder = ET.SubElement(description, tag)
    bag = next((child for child in holder if child.tag in (f"{{{RDF}}}Bag", f"{{{RDF}}}Seq")), None)
    if bag is None:
        bag = ET.SubElement(holder, f"{{{RDF}}}Bag")
    removed: list[str] = []
    present = False
    for item in list(bag):
        text = (item.text or "").strip()
        if text == value:
            present = True
        elif replaces(text):
            bag.remove(item)
            removed.append(text)
    if not present:
        ET.SubElement(bag, f"{{{RDF}}}li").text = value
    return bool(removed) or not present, removed


def _parse(data: bytes) -> ET.Element:
    parser = XMLParser(target=ET.TreeBuilder(insert_comments=True, insert_pis=False), forbid_dtd=True)
    try:
        parser.feed(_strip_packet(data))
        return parser.close()
    except DefusedXmlException as exc:
        raise XmpError("its XMP declares entities or a document type, which are not allowed") from exc
    except SyntaxError as exc:
        raise XmpError(f"its XMP is not well-formed ({exc})") from exc


def _strip_packet(data: bytes) -> bytes:
    """The document between the ``<?xpacket?>`` wrapper (kept apart and written back around it)."""
    text = data.decode("utf-8", "replace")
    start = text.find("<x:xmpmeta")
    if start < 0:
        start = text.find("<rdf:RDF")
    end = max(text.rfind("</x:xmpmeta>") + len("</x:xmpmeta>"), text.rfind("</rdf:RDF>") + len("</rdf:RDF>"))
    if start < 0 or end <= start:
        return data
    return text[start:end].encode()


def _head(existing: bytes) -> str:
    text = existing.decode("utf-8", "replace")
    start = text.find("<x:xmpmeta")
    return text[:start] if start >= 0 else _PACKET_BEGIN


def _tail(existing: bytes) -> str:
    text = existing.decode("utf-8", "replace")
    end = text.rfind("</x:xmpmeta>")
    return text[end + len("</x:xmpmeta>"):] if end >= 0 else _PACKET_END


def _namespaces(data: bytes) -> dict[str, str]:
    """Every prefix the document declares, so it is written back under the same names."""
    found: dict[str, str] = {}
    try:
        for _event, (prefix, uri) in iterparse(io.BytesIO(_strip_packet(data)), events=("start-ns",),
                                               forbid_dtd=True):
            if prefix and not prefix.startswith("ns"):
                found.setdefault(prefix, uri)
    except (DefusedXmlException, SyntaxError) as exc:
        raise XmpError("its XMP cannot be read") from exc
    return found
