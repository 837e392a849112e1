#!/usr/bin/env python3
"""Writes the fuzz seed corpora under data/fuzz/ (committed; CI only reads them).

Usage: /usr/bin/python3 tools/make_fuzz_seeds.py GRAFT_BINARY

Standard library only. Seeds are small valid inputs of every form each
parser accepts, so that the fuzzer starts from deep inside the formats:
  png/   grey, grey+alpha, RGB, RGBA, palette with tRNS, 16-bit
  idx/   images+labels pairs, raw and gzip (4-byte length prefix, see
         tests/fuzz/fuzz_idx.c)
  csv/   path,label lists with a header, CR, blank lines, names, indices
  graft/ model files written by `graft import` of data/onnx/folded_mini.onnx and
         shape_mini.onnx (non-square windows: a GEOM section)
The ONNX target's seeds are data/onnx/*.onnx themselves.
"""
import gzip
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "data", "fuzz")


def png(w, h, color_type, depth, rows, plte=None, trns=None):
    def chunk(kind, body):
        c = kind + body
        return struct.pack(">I", len(body)) + c + struct.pack(">I", zlib.crc32(c) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + r for r in rows)
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, 0))
    if plte:
        out += chunk(b"PLTE", plte)
    if trns:
        out += chunk(b"tRNS", trns)
    return out + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def write(sub, name, data):
    os.makedirs(os.path.join(OUT, sub), exist_ok=True)
    with open(os.path.join(OUT, sub, name), "wb") as f:
        f.write(data)


def seeds_png():
    write("png", "grey8_5x3.png", png(5, 3, 0, 8, [bytes((x * 40 + y * 9) % 256 for x in range(5)) for y in range(3)]))
    write("png", "greyalpha8_3x2.png", png(3, 2, 4, 8, [bytes([10, 255, 200, 128, 90, 0]), bytes([1, 2, 3, 4, 5, 6])]))
    write("png", "rgb8_4x3.png", png(4, 3, 2, 8, [bytes((x * 31 + c * 70 + y) % 256 for x in range(4) for c in range(3)) for y in range(3)]))
    write("png", "rgba8_2x2.png", png(2, 2, 6, 8, [bytes([255, 0, 0, 255, 0, 255, 0, 128]), bytes([0, 0, 255, 0, 9, 9, 9, 9])]))
    write("png", "palette_3x3.png", png(3, 3, 3, 8, [bytes([0, 1, 2]), bytes([2, 1, 0]), bytes([1, 1, 1])],
                                       plte=bytes([0, 0, 0, 255, 128, 0, 10, 200, 250]), trns=bytes([255, 64])))
    write("png", "grey16_3x2.png", png(3, 2, 0, 16, [struct.pack(">HHH", 0, 30000, 65535), struct.pack(">HHH", 7, 8, 9)]))


def idx_pair(images, labels, n, h, w):
    img = struct.pack(">IIII", 0x00000803, n, h, w) + images
    lab = struct.pack(">II", 0x00000801, n) + labels
    return img, lab


def seeds_idx():
    with gzip.open(os.path.join(ROOT, "data", "fixtures", "fmnist512-images-idx3-ubyte.gz")) as f:
        imgs = f.read()
    with gzip.open(os.path.join(ROOT, "data", "fixtures", "fmnist512-labels-idx1-ubyte.gz")) as f:
        labs = f.read()
    n = 4
    img, lab = idx_pair(imgs[16:16 + n * 784], labs[8:8 + n], n, 28, 28)
    write("idx", "raw_4x28x28", struct.pack("<I", len(img)) + img + lab)
    gi, gl = gzip.compress(img, 9, mtime=0), gzip.compress(lab, 9, mtime=0)
    write("idx", "gzip_4x28x28", struct.pack("<I", len(gi)) + gi + gl)
    img, lab = idx_pair(bytes(range(3 * 5 * 2)), bytes([0, 1, 2]), 3, 5, 2)
    write("idx", "raw_3x5x2", struct.pack("<I", len(img)) + img + lab)


def seeds_csv():
    write("csv", "names.csv", b"path,label\na/1.png,cat\nb/2.png,dog\n\nc/3.png,cat\n")
    write("csv", "indices_crlf.csv", b"x.png,0\r\ny.png,1\r\nz,with,commas.png,2\r\n")
    write("csv", "no_header.csv", b"img.png,rocket\n")


def seeds_graft(graft):
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("folded_mini", "shape_mini"):  # shape_mini has a GEOM section
            out = os.path.join(tmp, name + ".graft")
            subprocess.run([graft, "import", os.path.join(ROOT, "data", "onnx", name + ".onnx"),
                            "--out", out, "--quiet"], check=True)
            os.makedirs(os.path.join(OUT, "graft"), exist_ok=True)
            shutil.copyfile(out, os.path.join(OUT, "graft", name + ".graft"))


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    seeds_png()
    seeds_idx()
    seeds_csv()
    seeds_graft(sys.argv[1])


if __name__ == "__main__":
    main()
