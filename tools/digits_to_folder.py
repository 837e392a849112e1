#!/usr/bin/env python3
"""Split OpenCV's digits.png (Debian package opencv-doc) into class folders.

The sheet is 2000x1000 8-bit grey: 50 rows x 100 columns of 20x20 cells,
five rows per digit (class = row // 5, 500 images per digit). Writes
OUT/<digit>/<row>_<col>.png as 20x20 grey PNGs. Standard library only.

Usage: tools/digits_to_folder.py [--src PATH] OUT
"""
import argparse
import gzip
import os
import struct
import sys
import zlib

DEFAULT_SRC = "/usr/share/doc/opencv-doc/examples/data/digits.png"
CELL = 20
PNG_SIG = b"\x89PNG\r\n\x1a\n"


def find_source(path):
    """Debian may ship the file gzip-compressed; accept either form."""
    for p in (path, path + ".gz"):
        if os.path.isfile(p):
            return p
    return None


def read_png_grey(data):
    """Decode an 8-bit greyscale non-interlaced PNG -> (w, h, rows)."""
    if data[:8] != PNG_SIG:
        raise ValueError("not a PNG file")
    pos, idat, hdr = 8, [], None
    while pos + 8 <= len(data):
        length, ctype = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if len(body) != length:
            raise ValueError("truncated chunk %r" % ctype)
        if ctype == b"IHDR":
            hdr = struct.unpack(">IIBBBBB", body)
        elif ctype == b"IDAT":
            idat.append(body)
        elif ctype == b"IEND":
            break
        pos += 12 + length
    if hdr is None:
        raise ValueError("no IHDR chunk")
    w, h, depth, ctype, _comp, _filt, interlace = hdr
    if depth != 8 or ctype != 0 or interlace != 0:
        raise ValueError("need 8-bit grey non-interlaced PNG, got depth %d colour type %d "
                         "interlace %d" % (depth, ctype, interlace))
    raw = zlib.decompress(b"".join(idat))
    if len(raw) != h * (w + 1):
        raise ValueError("image data is %d bytes, expected %d" % (len(raw), h * (w + 1)))
    rows, prev = [], bytearray(w)
    for y in range(h):
        ft = raw[y * (w + 1)]
        line = bytearray(raw[y * (w + 1) + 1:(y + 1) * (w + 1)])
        if ft == 0:
            pass
        elif ft == 1:  # Sub
            for x in range(1, w):
                line[x] = (line[x] + line[x - 1]) & 255
        elif ft == 2:  # Up
            for x in range(w):
                line[x] = (line[x] + prev[x]) & 255
        elif ft == 3:  # Average
            for x in range(w):
                left = line[x - 1] if x else 0
                line[x] = (line[x] + ((left + prev[x]) >> 1)) & 255
        elif ft == 4:  # Paeth
            for x in range(w):
                a = line[x - 1] if x else 0
                b = prev[x]
                c = prev[x - 1] if x else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[x] = (line[x] + pred) & 255
        else:
            raise ValueError("bad filter type %d in row %d" % (ft, y))
        rows.append(line)
        prev = line
    return w, h, rows


def png_grey_bytes(w, h, rows):
    def chunk(t, body):
        return (struct.pack(">I", len(body)) + t + body +
                struct.pack(">I", zlib.crc32(t + body) & 0xFFFFFFFF))
    raw = b"".join(b"\x00" + bytes(r) for r in rows)
    return (PNG_SIG + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def write_atomic(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--src", default=DEFAULT_SRC, help="digits.png (or .png.gz); default %(default)s")
    ap.add_argument("out", help="output folder (gets 0/ .. 9/)")
    a = ap.parse_args(argv)
    src = find_source(a.src)
    if src is None:
        sys.stderr.write("digits_to_folder: %s not found; it comes with Debian's opencv-doc "
                         "package: apt-get install opencv-doc\n" % a.src)
        return 1
    with open(src, "rb") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    try:
        w, h, rows = read_png_grey(data)
    except (ValueError, zlib.error, struct.error) as e:
        sys.stderr.write("digits_to_folder: %s: %s\n" % (src, e))
        return 1
    if (w, h) != (2000, 1000):
        sys.stderr.write("digits_to_folder: %s is %dx%d, expected 2000x1000\n" % (src, w, h))
        return 1
    for d in range(10):
        os.makedirs(os.path.join(a.out, str(d)), exist_ok=True)
    n = 0
    for r in range(h // CELL):
        for c in range(w // CELL):
            cell = [rows[r * CELL + y][c * CELL:(c + 1) * CELL] for y in range(CELL)]
            write_atomic(os.path.join(a.out, str(r // 5), "%d_%d.png" % (r, c)),
                         png_grey_bytes(CELL, CELL, cell))
            n += 1
    print("digits_to_folder: wrote %d images (10 classes x %d) to %s" % (n, n // 10, a.out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
