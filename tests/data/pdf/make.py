#!/usr/bin/env python3
"""Writes the hand-made PDFs of manage::pdf's tests, byte by byte with correct offsets:

minimal.pdf     PDF 1.4, one page, a classic xref table and trailer.
updated.pdf     minimal.pdf plus an incremental update (a second xref section whose
                trailer points back with /Prev) that adds a second page.
compressed.pdf  PDF 1.5, the catalog and the page tree inside an object stream, the
                cross-reference in a Flate-compressed xref stream with the PNG Up
                predictor (/Predictor 12), as current producers write them.

Run from this directory: python3 make.py
"""
import zlib

CONTENT = b"BT /F1 18 Tf 72 720 Td (Contratto di attivazione PEC) Tj ET"


def classic(objects, extra=b""):
    """A PDF 1.4 file of `objects` (number -> body bytes) with an xref table."""
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = {}
    for number in sorted(objects):
        offsets[number] = len(out)
        out += b"%d 0 obj\n" % number + objects[number] + b"\nendobj\n"
    size = max(objects) + 1
    xref = len(out)
    out += b"xref\n0 %d\n" % size
    out += b"0000000000 65535 f\r\n"
    for number in range(1, size):
        out += b"%010d 00000 n\r\n" % offsets[number]
    out += b"trailer\n<< /Size %d /Root 1 0 R%s >>\n" % (size, extra)
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out), offsets, xref


def base_objects():
    return {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        3: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842]"
        b" /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        4: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        5: b"<< /Length %d >>\nstream\n" % len(CONTENT) + CONTENT + b"\nendstream",
    }


def minimal():
    data, _, _ = classic(base_objects())
    return data


def updated():
    data, _, prev = classic(base_objects())
    out = bytearray(data)
    offsets = {}
    offsets[2] = len(out)
    out += b"2 0 obj\n<< /Type /Pages /Kids [3 0 R 6 0 R] /Count 2 >>\nendobj\n"
    offsets[6] = len(out)
    out += (b"6 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842]"
            b" /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>\nendobj\n")
    xref = len(out)
    out += b"xref\n0 1\n0000000000 65535 f\r\n2 1\n%010d 00000 n\r\n6 1\n%010d 00000 n\r\n" % (
        offsets[2], offsets[6])
    out += b"trailer\n<< /Size 7 /Root 1 0 R /Prev %d >>\n" % prev
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def png_up(rows, width):
    """Rows of `width` bytes, each with PNG filter type 2 (Up)."""
    out = bytearray()
    previous = bytes(width)
    for row in rows:
        out.append(2)
        out += bytes((b - p) % 256 for b, p in zip(row, previous))
        previous = row
    return bytes(out)


def compressed():
    inner = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        3: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842]"
        b" /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        4: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    }
    body = bytearray()
    pairs = []
    for number in sorted(inner):
        pairs.append(b"%d %d" % (number, len(body)))
        body += inner[number] + b"\n"
    header = b" ".join(pairs) + b"\n"
    objstm = zlib.compress(header + bytes(body))
    out = bytearray(b"%PDF-1.5\n%\xe2\xe3\xcf\xd3\n")
    offsets = {}
    offsets[5] = len(out)
    out += b"5 0 obj\n<< /Length %d >>\nstream\n" % len(CONTENT) + CONTENT + b"\nendstream\nendobj\n"
    offsets[6] = len(out)
    out += (b"6 0 obj\n<< /Type /ObjStm /N %d /First %d /Filter /FlateDecode /Length %d >>\nstream\n"
            % (len(inner), len(header), len(objstm)) + objstm + b"\nendstream\nendobj\n")
    xref = len(out)
    rows = [bytes([0, 0, 0, 255, 255])]
    for number in sorted(inner):
        rows.append(bytes([2, 0, 0, 6, number - 1]))
    rows.append(bytes([1]) + offsets[5].to_bytes(3, "big") + bytes([0]))
    rows.append(bytes([1]) + offsets[6].to_bytes(3, "big") + bytes([0]))
    rows.append(bytes([1]) + xref.to_bytes(3, "big") + bytes([0]))
    stream = zlib.compress(png_up(rows, 5))
    out += (b"7 0 obj\n<< /Type /XRef /Size 8 /W [1 3 1] /Root 1 0 R /Filter /FlateDecode"
            b" /DecodeParms << /Predictor 12 /Columns 5 >> /Length %d >>\nstream\n"
            % len(stream) + stream + b"\nendstream\nendobj\n")
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


for name, make in [("minimal.pdf", minimal), ("updated.pdf", updated),
                   ("compressed.pdf", compressed)]:
    with open(name, "wb") as f:
        f.write(make())
