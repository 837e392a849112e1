#!/usr/bin/env python3
"""Reproduce `graft predict` on a file written by `graft export`, with ONNX Runtime.

Usage: tools/onnx_predict.py MODEL.onnx IMAGE...   (prints path,label,prob like --csv -)
Needs numpy, Pillow and onnxruntime (pip; not a Debian package). The model card in the
file's metadata_props says how to feed the network (docs/onnx.md). The same lines are in
docs/onnx.md; tests/test_photo_cli.sh compares them with graft when onnxruntime is there.
"""
import json, sys
import numpy as np, onnxruntime as ort
from PIL import Image, ImageOps

def resize_crop(x, H, W):  # graft's resize: shorter side covers H x W (bilinear, half-pixel), centre crop
    h, w = x.shape[:2]; s = max(H / h, W / w)
    rh, rw = max(H, np.floor(h * s + .5)), max(W, np.floor(w * s + .5))
    fy = np.clip((np.arange(H) + (rh - H) // 2 + .5) * h / rh - .5, 0, h - 1)
    fx = np.clip((np.arange(W) + (rw - W) // 2 + .5) * w / rw - .5, 0, w - 1)
    iy, ix = np.minimum(fy.astype(int), max(h - 2, 0)), np.minimum(fx.astype(int), max(w - 2, 0))
    ty, tx = (fy - iy)[:, None, None], (fx - ix)[None, :, None]
    a, b = x[iy], x[np.minimum(iy + 1, h - 1)]
    row = lambda r: r[:, ix] * (1 - tx) + r[:, np.minimum(ix + 1, w - 1)] * tx
    return row(a) * (1 - ty) + row(b) * ty

sess = ort.InferenceSession(sys.argv[1]); card = sess.get_modelmeta().custom_metadata_map
C, H, W = json.loads(card["input_shape"]); names = json.loads(card["class_names"])
mean, std = (np.float32(json.loads(card[k]))[:, None, None] for k in ("mean", "std"))
for path in sys.argv[2:]:
    img = Image.open(path); img.draft("RGB", (W, H))          # JPEG: libjpeg's DCT scaling, as graft
    img = ImageOps.exif_transpose(img)
    x = np.asarray(img.convert("RGBA"), np.float64) / 255      # alpha composited on black
    x = x[..., :3] * x[..., 3:]
    if C == 1: x = x @ [[0.299], [0.587], [0.114]] if img.mode != "L" else x[..., :1]
    x = ((resize_crop(x, H, W).transpose(2, 0, 1) - mean) / std)[None].astype(np.float32)
    z = sess.run(None, {sess.get_inputs()[0].name: x})[0][0]; p = np.exp(z - z.max()); p /= p.sum()
    k = int(p.argmax()); print(f"{path},{names[k]},{p[k]:.6f}")
