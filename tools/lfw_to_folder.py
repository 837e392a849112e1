#!/usr/bin/python3
"""Turn python3-skimage's lfw_subset.npy into a PNG class folder.

skimage/data/lfw_subset.npy holds 200 25x25 greyscale crops (float64 in
[0, 1]) from Labeled Faces in the Wild: the first 100 are faces, the last 100
non-faces. Writes OUT/face/NNN.png and OUT/nonface/NNN.png (8-bit grey PNGs,
value = round(255 * x)). NumPy to read the .npy file; the PNG writer is the
standard library's zlib/struct.

Usage: tools/lfw_to_folder.py [--src PATH] OUT
"""
import argparse
import os
import struct
import sys
import zlib

import numpy as np

DEFAULT_SRC = "/usr/lib/python3/dist-packages/skimage/data/lfw_subset.npy"
PNG_SIG = b"\x89PNG\r\n\x1a\n"


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
    ap.add_argument("--src", default=DEFAULT_SRC, help="lfw_subset.npy (default: %(default)s)")
    ap.add_argument("out", help="output folder (face/ and nonface/ are created)")
    args = ap.parse_args(argv)
    if not os.path.isfile(args.src):
        sys.stderr.write("lfw_to_folder: %s not found (apt-get install python3-skimage, "
                         "or give --src)\n" % args.src)
        return 1
    try:
        a = np.load(args.src, allow_pickle=False)
    except (ValueError, OSError) as e:
        sys.stderr.write("lfw_to_folder: %s: %s\n" % (args.src, e))
        return 1
    if a.ndim != 3 or a.shape[0] != 200:
        sys.stderr.write("lfw_to_folder: %s: expected 200 x H x W crops, got shape %r\n"
                         % (args.src, a.shape))
        return 1
    img = np.clip(np.rint(a * 255.0), 0, 255).astype(np.uint8)
    for cls in ("face", "nonface"):
        os.makedirs(os.path.join(args.out, cls), exist_ok=True)
    h, w = img.shape[1:]
    for i in range(img.shape[0]):
        cls = "face" if i < 100 else "nonface"
        write_atomic(os.path.join(args.out, cls, "%03d.png" % i),
                     png_grey_bytes(w, h, [r.tobytes() for r in img[i]]))
    print("lfw_to_folder: wrote %d face and %d nonface %dx%d PNGs to %s"
          % (100, img.shape[0] - 100, w, h, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
