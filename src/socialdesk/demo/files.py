"""The files a demo customer sends by email, drawn here rather than shipped: a photo of a
monthly pass (PNG) and a one-page bank statement (PDF). Small, valid, and made of nothing but
the standard library, so the demo needs no image or PDF package."""

from __future__ import annotations

import struct
import zlib

_WIDTH, _HEIGHT = 320, 200
_CARD = (250, 250, 247)
_BAND = (33, 94, 168)
_INK = (60, 64, 72)
_STAMP = (46, 139, 87)


def _png(rows: list[bytes], width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    raw = b"".join(b"\x00" + row for row in rows)  # filter type 0 on every row
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def pass_photo() -> bytes:
    """A monthly pass card: a blue band across the top, lines of print, a green validity
    stamp in the corner."""
    rows = []
    for y in range(_HEIGHT):
        row = bytearray()
        for x in range(_WIDTH):
            colour = _CARD
            if y < 46:
                colour = _BAND
            elif 70 <= y < 190 and (y - 70) % 26 < 8 and 24 <= x < 200 - (y - 70) // 26 * 28:
                colour = _INK
            elif (x - 258) ** 2 + (y - 130) ** 2 < 34**2:
                colour = _STAMP
            row += bytes(colour)
        rows.append(bytes(row))
    return _png(rows, _WIDTH, _HEIGHT)


def bank_statement() -> bytes:
    """A one-page PDF: the lines of a statement showing the pass bought for the month."""
    lines = (
        "Mercia Savings Bank - account statement",
        "Account holder: Elif Demir",
        "",
        "01  Kestrel Valley Transit  monthly pass       -64.00",
        "03  Groceries                                  -23.40",
        "05  Salary                                  +2,410.00",
    )
    text = "BT /F1 12 Tf 56 780 Td 16 TL " + " ".join(f"({line}) Tj T*" for line in lines) + " ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Courier >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(text), text.encode("ascii")),
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)
