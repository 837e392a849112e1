#!/usr/bin/python3
"""Writes the JPEG decoder's test fixtures into data/fixtures/jpeg/ (committed;
CI does not run this) and, with --bench DIR, a photo-sized JPEG for measuring
decode throughput (not committed).

Needs Pillow (Debian: python3-pil; tools/install-deps.sh --bench). Pillow also
gives the reference pixels: expected.txt holds what Pillow decodes for every
decodable fixture, upright (EXIF orientation applied by Pillow's own
ImageOps.exif_transpose), so tests/test_data_jpeg.c compares graft's decoder
with another program's reading of the same bytes.

Usage: /usr/bin/python3 tools/make_jpeg_fixtures.py [--out DIR] [--bench DIR]
"""
import argparse
import io
import math
import os
import struct

from PIL import Image, ImageOps

W, H = 13, 7  # odd sizes: partial MCUs on both axes


def picture(w=W, h=H):
    """An asymmetric colour picture: a rotation or mirror shows up in it."""
    im = Image.new("RGB", (w, h))
    px = im.load()
    for y in range(h):
        for x in range(w):
            r = int(255 * x / (w - 1))
            g = int(255 * y / (h - 1))
            b = 40 + (x * 7 + y * 29) % 160
            if x < 3 and y < 2:  # a bright corner marks top-left
                r, g, b = 250, 250, 240
            px[x, y] = (r, g, b)
    return im


def photo(w, h):
    """A photo-like test image: smooth shading, edges and texture, so the
    entropy coder sees realistic data (a flat image decodes unrealistically
    fast)."""
    im = Image.new("RGB", (w, h))
    data = bytearray()
    for y in range(h):
        for x in range(w):
            u, v = x / w, y / h
            shade = 0.5 + 0.5 * math.sin(6.0 * u + 3.0 * v)
            ring = 0.5 + 0.5 * math.sin(40.0 * math.hypot(u - 0.4, v - 0.6))
            noise = ((x * 1103515245 + y * 12345) >> 7) % 64 / 64.0
            r = 255 * (0.6 * shade + 0.25 * ring + 0.15 * noise)
            g = 255 * (0.4 * v + 0.4 * ring + 0.2 * noise)
            b = 255 * (0.7 * (1 - shade) + 0.3 * noise)
            if (x // 50 + y // 40) % 5 == 0:  # hard-edged blocks
                r, g = g, r
            data += bytes((int(r), int(g), int(b)))
    im.frombytes(bytes(data))
    return im


def with_black_ink(im):
    """CMYK with real black ink (Pillow's own RGB -> CMYK leaves K at 0,
    which would not test how K combines with the other inks)."""
    out = Image.new("CMYK", im.size)
    src, dst = im.load(), out.load()
    for y in range(im.size[1]):
        for x in range(im.size[0]):
            c, m, ye = (255 - v for v in src[x, y])
            k = min(c, m, ye) * 3 // 4
            dst[x, y] = (c - k, m - k, ye - k, k)
    return out


def exif_orientation(value, big_endian):
    """An APP1 payload: "Exif\\0\\0", a TIFF header, one IFD holding only the
    orientation tag (0x0112, SHORT), written by hand so both byte orders are
    covered."""
    e = ">" if big_endian else "<"
    tiff = (b"MM" if big_endian else b"II") + struct.pack(e + "HI", 42, 8)
    ifd = struct.pack(e + "H", 1) + struct.pack(e + "HHI", 0x0112, 3, 1)
    ifd += struct.pack(e + "H", value) + b"\0\0" + struct.pack(e + "I", 0)
    return b"Exif\0\0" + tiff + ifd


# Pillow's transpose that turns an upright picture into the stored one for
# each orientation (the inverse of what a viewer applies).
TO_STORED = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,   # stored turned anticlockwise; shown 90 clockwise
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


def jpeg_bytes(im, **kw):
    b = io.BytesIO()
    im.save(b, "JPEG", **kw)
    return b.getvalue()


def reference(data):
    """What Pillow decodes, upright, as (mode, w, h, samples)."""
    im = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    if im.mode == "CMYK":
        im = im.convert("RGB")
    assert im.mode in ("L", "RGB"), im.mode
    return im.mode, im.size[0], im.size[1], im.tobytes()


def scan_start(data):
    """Offset of the first entropy-coded byte (after the first SOS header)."""
    i = data.index(b"\xff\xda")
    return i + 2 + struct.unpack(">H", data[i + 2:i + 4])[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--out", default=os.path.join(root, "data", "fixtures", "jpeg"))
    ap.add_argument("--bench", metavar="DIR", help="write photo_500x375_q90.jpg there and stop")
    a = ap.parse_args()

    if a.bench:
        os.makedirs(a.bench, exist_ok=True)
        p = os.path.join(a.bench, "photo_500x375_q90.jpg")
        with open(p, "wb") as f:
            f.write(jpeg_bytes(photo(500, 375), quality=90))
        print(p)
        return

    os.makedirs(a.out, exist_ok=True)
    pic = picture()
    files = {}  # name -> bytes
    decodable = []  # names with a reference in expected.txt

    files["baseline.jpg"] = jpeg_bytes(pic, quality=90)  # 4:2:0 chroma
    files["progressive.jpg"] = jpeg_bytes(pic, quality=90, progressive=True)
    files["grey.jpg"] = jpeg_bytes(pic.convert("L"), quality=90)
    # Pillow writes CMYK with an Adobe APP14 marker and inverted samples,
    # as Photoshop does.
    cmyk = jpeg_bytes(with_black_ink(pic), quality=95)
    assert b"Adobe" in cmyk
    files["cmyk_adobe.jpg"] = cmyk
    decodable += ["baseline.jpg", "progressive.jpg", "grey.jpg", "cmyk_adobe.jpg"]

    # The same upright picture stored in all eight orientations (4:4:4, q100 so
    # they agree with each other closely after rotation too).
    for o in range(1, 9):
        stored = pic if TO_STORED[o] is None else pic.transpose(TO_STORED[o])
        big = o % 2 == 0  # both byte orders
        name = "exif%d_%s.jpg" % (o, "be" if big else "le")
        data = jpeg_bytes(stored, quality=100, subsampling=0, exif=exif_orientation(o, big))
        assert Image.open(io.BytesIO(data)).getexif().get(0x0112) == o, name
        files[name] = data
        decodable.append(name)

    base = files["baseline.jpg"]
    # Cut inside the entropy-coded data: libjpeg would fill the rest with grey.
    s = scan_start(base)
    files["truncated.jpg"] = base[: s + (len(base) - s) // 2]
    # An undefined marker (0xFF02) where the first DHT marker was.
    i = base.index(b"\xff\xc4")
    files["corrupt_marker.jpg"] = base[:i] + b"\xff\x02" + base[i + 2:]
    # A stray marker inside the entropy-coded data (the decoder meets it
    # before the scan's data is complete).
    j = s + (len(base) - s) // 3
    files["corrupt_scan.jpg"] = base[:j] + b"\xff\xc4\x00\x00" + base[j + 4:]

    # A PNG named .jpg: content decides.
    b = io.BytesIO()
    pic.save(b, "PNG")
    files["png_named.jpg"] = b.getvalue()
    decodable.append("png_named.jpg")

    # Formats graft recognises but does not read.
    tiny = pic.resize((3, 2))
    for fmt, name in (("WEBP", "sample.webp"), ("BMP", "sample.bmp"), ("GIF", "sample.gif"),
                      ("TIFF", "sample.tiff")):
        b = io.BytesIO()
        tiny.save(b, fmt)
        files[name] = b.getvalue()

    for name, data in files.items():
        with open(os.path.join(a.out, name), "wb") as f:
            f.write(data)

    with open(os.path.join(a.out, "expected.txt"), "w") as f:
        f.write("# Written by tools/make_jpeg_fixtures.py. Per fixture: a line\n"
                "# 'NAME WIDTH HEIGHT CHANNELS', then HEIGHT lines of WIDTH*CHANNELS\n"
                "# samples (0-255, interleaved): the upright pixels as Pillow decodes them\n"
                "# (CMYK converted to RGB by Pillow).\n")
        for name in decodable:
            mode, w, h, px = reference(files[name])
            c = 1 if mode == "L" else 3
            f.write("%s %d %d %d\n" % (name, w, h, c))
            for y in range(h):
                row = px[y * w * c:(y + 1) * w * c]
                f.write(" ".join(str(v) for v in row) + "\n")
    total = sum(os.path.getsize(os.path.join(a.out, n)) for n in os.listdir(a.out))
    print("wrote %d files, %d bytes, to %s" % (len(files) + 1, total, a.out))


if __name__ == "__main__":
    main()
