#!/usr/bin/env python3
"""Write the first N images of an IDX image file (raw or gzip) as PNG files.

The labels come from the matching labels file (the images path with
"images-idx3" replaced by "labels-idx1", as graft resolves it) or --labels.
Default layout: OUT/<index>_<label>.png. With --folders:
OUT/<label>/<index>.png (a class-folder dataset for graft). Grey 8-bit PNGs,
written with the standard library only.

Usage: tools/idx_to_pngs.py [-n N] [--folders] [--labels PATH] IMAGES OUT
"""
import argparse
import gzip
import os
import struct
import sys
import zlib


def read_idx(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 8:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    nd = data[3]
    dims = struct.unpack(">" + "I" * nd, data[4:4 + 4 * nd])
    body = data[4 + 4 * nd:]
    total = 1
    for d in dims:
        total *= d
    if len(body) != total:
        raise ValueError(f"{path}: holds {len(body)} data bytes, header says {total}")
    return dims, body


def png_grey(w, h, pix):
    def chunk(kind, payload):
        c = struct.pack(">I", len(payload)) + kind + payload
        return c + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)
    raw = b"".join(b"\x00" + pix[y * w:(y + 1) * w] for y in range(h))
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("images")
    ap.add_argument("out")
    ap.add_argument("-n", type=int, default=0, help="images to write (default all)")
    ap.add_argument("--folders", action="store_true", help="OUT/<label>/<index>.png")
    ap.add_argument("--labels", help="labels file (default: derived from IMAGES)")
    a = ap.parse_args()
    labels_path = a.labels or a.images.replace("images-idx3", "labels-idx1")
    try:
        (n, h, w), pix = read_idx(a.images)
        (nl,), labels = read_idx(labels_path)
    except (OSError, ValueError) as e:
        sys.exit(f"idx_to_pngs: {e}")
    if nl != n:
        sys.exit(f"idx_to_pngs: {a.images} has {n} images but {labels_path} {nl} labels")
    count = n if a.n <= 0 else min(a.n, n)
    os.makedirs(a.out, exist_ok=True)
    width = len(str(count - 1)) if count > 0 else 1
    for i in range(count):
        img = pix[i * h * w:(i + 1) * h * w]
        if a.folders:
            d = os.path.join(a.out, str(labels[i]))
            os.makedirs(d, exist_ok=True)
            path = os.path.join(d, f"{i:0{width}d}.png")
        else:
            path = os.path.join(a.out, f"{i:0{width}d}_{labels[i]}.png")
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(png_grey(w, h, img))
        os.replace(tmp, path)
    print(f"wrote {count} images to {a.out}")


if __name__ == "__main__":
    main()
