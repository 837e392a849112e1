#!/usr/bin/python3
"""Convert a TensorFlow.js Keras layers model (as nsfwjs ships it) to ONNX.

nsfwjs 4.3.0 bundles its models as browserify JS modules: model.min.js sets
module.exports to the model.json object literal (modelTopology +
weightsManifest) and group1-shard1of1.min.js to one base64 string holding the
weight bytes. This script parses both without running any JavaScript (a small
JS-literal parser), dequantises the uint8 weights (value = min + q * scale, as
tfjs does), walks the Keras graph and writes an NCHW ONNX model that
`graft import` loads:

  Conv2D / DepthwiseConv2D   -> Conv (HWIO -> OIHW; depthwise HWC1 -> C1HW, group=C)
  ZeroPadding2D + valid conv -> Conv pads; Keras' asymmetric ((0,1),(0,1)) before a
                                stride-2 conv becomes an exact symmetric pad 1 with the
                                kernel embedded in a (k+1)x(k+1) kernel whose first row
                                and column are zero (see docs/mobilenetv2.md)
  BatchNormalization         -> BatchNormalization (epsilon kept)
  ReLU(max_value=6)          -> Clip [0, 6]
  Add                        -> Add
  AveragePooling2D + Flatten -> GlobalAveragePool + Flatten (the pool spans the map at 224)
  Dense                      -> Gemm (with --head full)

--head linear (default) keeps the backbone through global average pooling and
adds a placeholder Gemm 1280 -> 5 (zero weights, dense_3's bias) that graft
finetune replaces; --head full keeps the original 256-128-5 dense head.
--size N emits the network for an N x N input (it is fully convolutional).

--check DIR also runs a float64 NumPy forward pass straight from the decoded
weights in NHWC with Keras semantics (explicit zero padding, valid convs) on
photos from python3-skimage's data folder, bilinearly resized to N x N, and
writes DIR/inputs.f32 (NCHW float32, values in [0, 1]), DIR/ref_features.f64
(the 1280 pooled features) and DIR/ref_logits.f64 (the 5 original logits).
--compare DIR FEATURES.f32 compares graft's features against the reference.

Python standard library, NumPy and onnx only (skimage only for --check).
"""
import argparse
import base64
import json
import os
import re
import sys

import numpy as np

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "hubble_deep_field")


class JSParseError(ValueError):
    pass


def parse_js_literal(text, pos):
    """Parse a JS object/array/string/number/identifier literal at pos.
    Returns (value, next_pos). Handles the minifier's forms: unquoted keys,
    '.5', '!0'/'!1', 'void 0'."""
    n = len(text)

    def skip(p):
        while p < n and text[p] in " \t\r\n":
            p += 1
        return p

    def value(p):
        p = skip(p)
        if p >= n:
            raise JSParseError("unexpected end of input")
        c = text[p]
        if c == "{":
            obj, p = {}, skip(p + 1)
            if text[p] == "}":
                return obj, p + 1
            while True:
                p = skip(p)
                if text[p] in "\"'":
                    key, p = string(p)
                else:
                    m = re.compile(r"[A-Za-z_$][\w$]*|\d+").match(text, p)
                    if not m:
                        raise JSParseError("bad object key at %d" % p)
                    key, p = m.group(0), m.end()
                p = skip(p)
                if text[p] != ":":
                    raise JSParseError("expected ':' at %d" % p)
                obj[key], p = value(p + 1)
                p = skip(p)
                if text[p] == ",":
                    p += 1
                elif text[p] == "}":
                    return obj, p + 1
                else:
                    raise JSParseError("expected ',' or '}' at %d" % p)
        if c == "[":
            arr, p = [], skip(p + 1)
            if text[p] == "]":
                return arr, p + 1
            while True:
                v, p = value(p)
                arr.append(v)
                p = skip(p)
                if text[p] == ",":
                    p += 1
                elif text[p] == "]":
                    return arr, p + 1
                else:
                    raise JSParseError("expected ',' or ']' at %d" % p)
        if c in "\"'":
            return string(p)
        if text.startswith("!0", p):
            return True, p + 2
        if text.startswith("!1", p):
            return False, p + 2
        if text.startswith("void 0", p):
            return None, p + 6
        m = re.compile(r"-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?").match(text, p)
        if m:
            s = m.group(0)
            return (float(s) if any(ch in s for ch in ".eE") else int(s)), m.end()
        m = re.compile(r"[A-Za-z_$][\w$]*").match(text, p)
        if m:
            word = m.group(0)
            consts = {"null": None, "true": True, "false": False}
            if word not in consts:
                raise JSParseError("unexpected identifier %r at %d" % (word, p))
            return consts[word], m.end()
        raise JSParseError("unexpected character %r at %d" % (c, p))

    def string(p):
        q, p, out = text[p], p + 1, []
        while p < n and text[p] != q:
            if text[p] == "\\":
                esc = text[p + 1]
                if esc == "u":
                    out.append(chr(int(text[p + 2:p + 6], 16)))
                    p += 6
                    continue
                out.append({"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f"}.get(esc, esc))
                p += 2
            else:
                out.append(text[p])
                p += 1
        if p >= n:
            raise JSParseError("unterminated string")
        return "".join(out), p + 1

    return value(pos)


def load_model_js(path):
    """model.json embedded as `X.exports={modelTopology:...}` in a JS module."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if text.lstrip().startswith("{") and '"modelTopology"' in text:
        return json.loads(text)  # a plain model.json
    m = re.search(r"\.exports\s*=\s*(?=\{\s*modelTopology\s*:)", text)
    if not m:
        raise SystemExit("%s: no '.exports={modelTopology:...}' object found" % path)
    obj, _ = parse_js_literal(text, m.end())
    if "weightsManifest" not in obj:
        raise SystemExit("%s: the model object has no weightsManifest" % path)
    return obj


def load_shard_js(path):
    """Weight bytes embedded as `X.exports="BASE64"` in a JS module (or a raw .bin)."""
    with open(path, "rb") as f:
        data = f.read()
    if not path.endswith(".js"):
        return data
    m = re.search(rb'\.exports\s*=\s*"([A-Za-z0-9+/=]+)"', data)
    if not m:
        raise SystemExit("%s: no '.exports=\"BASE64\"' string found" % path)
    return base64.b64decode(m.group(1), validate=True)


def decode_weights(manifest, shards):
    """Returns {name: float64 array}. shards: the concatenated bytes of every
    group's paths, in manifest order (tfjs concatenates a group's shards)."""
    buf = b"".join(shards)
    out, off = {}, 0
    for group in manifest:
        for w in group["weights"]:
            count = int(np.prod(w["shape"])) if w["shape"] else 1
            q = w.get("quantization")
            if q:
                dt = {"uint8": np.uint8, "uint16": np.uint16, "float16": np.float16}[q["dtype"]]
            else:
                dt = {"float32": np.float32, "int32": np.int32}[w["dtype"]]
            nbytes = count * np.dtype(dt).itemsize
            if off + nbytes > len(buf):
                raise SystemExit("weights: %s needs bytes %d..%d, data has %d"
                                 % (w["name"], off, off + nbytes, len(buf)))
            raw = np.frombuffer(buf, dtype=dt, count=count, offset=off).astype(np.float64)
            off += nbytes
            if q and q["dtype"] in ("uint8", "uint16"):
                # tfjs io: dequantized = q * scale + min (float32 arithmetic in the browser;
                # computed in float64 here and rounded to float32 once).
                raw = (raw * q["scale"] + q["min"]).astype(np.float32).astype(np.float64)
            out[w["name"]] = raw.reshape(w["shape"])
    if off != len(buf):
        raise SystemExit("weights: manifest covers %d bytes, data has %d" % (off, len(buf)))
    return out


def weight(weights, layer, suffix):
    for key in ("%s/%s" % (layer, suffix), "%s/%s:0" % (layer, suffix)):
        if key in weights:
            return weights[key]
    raise SystemExit("no weight %s/%s in the manifest" % (layer, suffix))


def keras_layers(model):
    cfg = model["modelTopology"]["model_config"]
    if cfg["class_name"] not in ("Model", "Functional"):
        raise SystemExit("need a functional Keras model, got %s" % cfg["class_name"])
    layers = []
    for layer in cfg["config"]["layers"]:
        nodes = layer["inbound_nodes"]
        if len(nodes) > 1:
            raise SystemExit("layer %s is shared (%d calls)" % (layer["name"], len(nodes)))
        inputs = [i[0] for i in nodes[0]] if nodes else []
        layers.append((layer["name"], layer["class_name"], layer["config"], inputs))
    return layers


def conv_pads(k, stride, padding, zpad):
    """Pads for a square-kernel conv with Keras `padding` after an optional
    ZeroPadding2D zpad ((t, b), (l, r)). Returns (symmetric pad, shift): shift 1
    means the kernel goes into a (k+1)-kernel at offset 1 (pad (p, p+1) -> p+1)."""
    if padding == "same":
        if stride != 1 or k % 2 == 0 or zpad is not None:
            raise SystemExit("padding 'same' supported only with stride 1, odd kernel")
        return (k - 1) // 2, 0
    if zpad is None:
        return 0, 0
    (t, b), (l, r) = zpad
    if (t, b) != (l, r):
        raise SystemExit("ZeroPadding2D %r: different padding on H and W" % (zpad,))
    if t == b:
        return t, 0
    if b == t + 1:
        return b, 1
    raise SystemExit("ZeroPadding2D %r not representable" % (zpad,))


# ----------------------------------------------------------------- ONNX


def build_onnx(layers, weights, size, head):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits = [], []
    tensor = {}      # keras layer name -> ONNX tensor name
    zpads = {}       # ZeroPadding2D layer name -> (pads, source layer)
    consumers = {}
    for name, cls, cfg, inputs in layers:
        for i in inputs:
            consumers.setdefault(i, []).append(name)

    def init(name, arr):
        inits.append(numpy_helper.from_array(np.asarray(arr, dtype=np.float32), name))
        return name

    init("clip_min", np.array(0.0))
    init("clip_max", np.array(6.0))
    input_name = None
    nout = None
    for name, cls, cfg, inputs in layers:
        src = tensor.get(inputs[0]) if inputs else None
        if cls == "InputLayer":
            shape = cfg["batch_input_shape"]
            if shape[3] != 3 or cfg.get("data_format", "channels_last") != "channels_last":
                raise SystemExit("input %r: need NHWC with 3 channels" % (shape,))
            input_name = name
            tensor[name] = name
            continue
        if cls == "ZeroPadding2D":
            zpads[name] = (cfg["padding"], inputs[0])
            continue
        if cls in ("Dropout",):
            tensor[name] = src
            continue
        if cls in ("Conv2D", "DepthwiseConv2D"):
            zpad = None
            if inputs[0] in zpads:
                zpad, real = zpads[inputs[0]]
                if len(consumers[inputs[0]]) != 1:
                    raise SystemExit("ZeroPadding2D %s has several consumers" % inputs[0])
                src = tensor[real]
            k, k2 = cfg["kernel_size"]
            s, s2 = cfg["strides"]
            if k != k2 or s != s2 or cfg.get("dilation_rate", [1, 1]) != [1, 1]:
                raise SystemExit("%s: need square kernel/stride, no dilation" % name)
            if cfg.get("activation", "linear") != "linear":
                raise SystemExit("%s: fused activation %s" % (name, cfg["activation"]))
            if cls == "Conv2D":
                w = weight(weights, name, "kernel").transpose(3, 2, 0, 1)  # HWIO -> OIHW
                group = 1
            else:
                if cfg.get("depth_multiplier", 1) != 1:
                    raise SystemExit("%s: depth_multiplier != 1" % name)
                w = weight(weights, name, "depthwise_kernel").transpose(2, 3, 0, 1)  # HWC1 -> C1HW
                group = w.shape[0]
            pad, shift = conv_pads(k, s, cfg["padding"], zpad)
            if shift:
                w2 = np.zeros(w.shape[:2] + (k + 1, k + 1))
                w2[:, :, 1:, 1:] = w
                w, k = w2, k + 1
            ins = [src, init(name + ".weight", w)]
            if cfg.get("use_bias"):
                ins.append(init(name + ".bias", weight(weights, name, "bias")))
            nodes.append(helper.make_node("Conv", ins, [name], name=name, kernel_shape=[k, k],
                                          strides=[s, s], pads=[pad] * 4, group=group))
        elif cls == "BatchNormalization":
            if cfg.get("axis", -1) not in (-1, 3, [3]):
                raise SystemExit("%s: BatchNormalization axis %r" % (name, cfg["axis"]))
            c = weight(weights, name, "moving_mean").shape[0]
            gamma = weight(weights, name, "gamma") if cfg.get("scale", True) else np.ones(c)
            beta = weight(weights, name, "beta") if cfg.get("center", True) else np.zeros(c)
            ins = [src, init(name + ".gamma", gamma), init(name + ".beta", beta),
                   init(name + ".mean", weight(weights, name, "moving_mean")),
                   init(name + ".var", weight(weights, name, "moving_variance"))]
            nodes.append(helper.make_node("BatchNormalization", ins, [name], name=name,
                                          epsilon=float(cfg["epsilon"]),
                                          momentum=float(cfg.get("momentum", 0.99))))
        elif cls == "ReLU":
            if cfg.get("negative_slope", 0) or cfg.get("threshold", 0):
                raise SystemExit("%s: leaky/thresholded ReLU" % name)
            mv = cfg.get("max_value")
            if mv is None:
                nodes.append(helper.make_node("Relu", [src], [name], name=name))
            elif mv == 6:
                nodes.append(helper.make_node("Clip", [src, "clip_min", "clip_max"], [name],
                                              name=name))
            else:
                raise SystemExit("%s: ReLU max_value %r" % (name, mv))
        elif cls == "Add":
            if len(inputs) != 2:
                raise SystemExit("%s: Add of %d inputs" % (name, len(inputs)))
            nodes.append(helper.make_node("Add", [tensor[i] for i in inputs], [name], name=name))
        elif cls in ("AveragePooling2D", "GlobalAveragePooling2D"):
            nodes.append(helper.make_node("GlobalAveragePool", [src], [name], name=name))
        elif cls == "Flatten":
            nodes.append(helper.make_node("Flatten", [src], [name], name=name, axis=1))
            if head == "linear":
                w3 = weight(weights, "dense_3", "kernel")
                b = weight(weights, "dense_3", "bias")
                feat = weight(weights, "Conv_1", "kernel").shape[3]
                ins = [name, init("fc.weight", np.zeros((feat, w3.shape[1]))),
                       init("fc.bias", b)]
                nodes.append(helper.make_node("Gemm", ins, ["fc"], name="fc"))
                nout = w3.shape[1]
                tensor["fc"] = last = "fc"
                break
        elif cls == "Dense":
            ins = [src, init(name + ".weight", weight(weights, name, "kernel")),
                   init(name + ".bias", weight(weights, name, "bias"))]
            act = cfg.get("activation", "linear")
            out = name if act in ("linear", "softmax") else name + "_pre"
            nodes.append(helper.make_node("Gemm", ins, [out], name=name))
            nout = cfg["units"]
            if act == "relu":
                nodes.append(helper.make_node("Relu", [out], [name], name=name + "_relu"))
            elif act not in ("linear", "softmax"):
                raise SystemExit("%s: Dense activation %s" % (name, act))
            # a final softmax is left out: graft outputs logits
        else:
            raise SystemExit("unsupported Keras layer %s (%s)" % (cls, name))
        tensor[name] = name
        last = name
    graph = helper.make_graph(
        nodes, "mobilenetv2_nsfwjs",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["N", 3, size, size])],
        [helper.make_tensor_value_info(tensor[last], TensorProto.FLOAT, ["N", nout])],
        inits)
    model = helper.make_model(graph, producer_name="graft tfjs_to_onnx",
                              opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 7
    onnx.checker.check_model(model)
    return model


# ------------------------------------------------ float64 NumPy reference


def ref_forward(layers, weights, x):
    """Keras semantics in NHWC float64. Returns (pooled features, logits)."""
    vals = {}
    feats = None
    for name, cls, cfg, inputs in layers:
        a = vals[inputs[0]] if inputs else None
        if cls == "InputLayer":
            y = x
        elif cls == "ZeroPadding2D":
            (t, b), (l, r) = cfg["padding"]
            y = np.pad(a, ((0, 0), (t, b), (l, r), (0, 0)))
        elif cls == "Dropout":
            y = a
        elif cls in ("Conv2D", "DepthwiseConv2D"):
            k = cfg["kernel_size"][0]
            s = cfg["strides"][0]
            if cfg["padding"] == "same":
                p = (k - 1) // 2
                a = np.pad(a, ((0, 0), (p, p), (p, p), (0, 0)))
            n, h, w, c = a.shape
            oh, ow = (h - k) // s + 1, (w - k) // s + 1
            if cls == "Conv2D":
                kern = weight(weights, name, "kernel")  # HWIO
                y = np.zeros((n, oh, ow, kern.shape[3]))
            else:
                kern = weight(weights, name, "depthwise_kernel")[:, :, :, 0]  # HWC
                y = np.zeros((n, oh, ow, c))
            for i in range(k):
                for j in range(k):
                    patch = a[:, i:i + s * (oh - 1) + 1:s, j:j + s * (ow - 1) + 1:s, :]
                    if cls == "Conv2D":
                        y += patch @ kern[i, j]
                    else:
                        y += patch * kern[i, j]
            if cfg.get("use_bias"):
                y += weight(weights, name, "bias")
        elif cls == "BatchNormalization":
            y = ((a - weight(weights, name, "moving_mean"))
                 / np.sqrt(weight(weights, name, "moving_variance") + cfg["epsilon"])
                 * weight(weights, name, "gamma") + weight(weights, name, "beta"))
        elif cls == "ReLU":
            y = np.clip(a, 0, cfg.get("max_value") or np.inf)
        elif cls == "Add":
            y = vals[inputs[0]] + vals[inputs[1]]
        elif cls in ("AveragePooling2D", "GlobalAveragePooling2D"):
            y = a.mean(axis=(1, 2), keepdims=True)
            feats = y.reshape(y.shape[0], -1)
        elif cls == "Flatten":
            y = a.reshape(a.shape[0], -1)
        elif cls == "Dense":
            y = a @ weight(weights, name, "kernel") + weight(weights, name, "bias")
            if cfg["activation"] == "relu":
                y = np.maximum(y, 0)
        else:
            raise SystemExit("reference: unsupported layer %s" % cls)
        vals[name] = y
    return feats, y


def bilinear_resize(img, size):
    """Half-pixel-centre bilinear resize of an HxWxC float image to size x size."""
    h, w = img.shape[:2]

    def coords(n_in):
        c = (np.arange(size) + 0.5) * n_in / size - 0.5
        c = np.clip(c, 0, n_in - 1)
        lo = np.floor(c).astype(int)
        hi = np.minimum(lo + 1, n_in - 1)
        return lo, hi, c - lo

    y0, y1, fy = coords(h)
    x0, x1, fx = coords(w)
    top = img[y0][:, x0] * (1 - fx)[None, :, None] + img[y0][:, x1] * fx[None, :, None]
    bot = img[y1][:, x0] * (1 - fx)[None, :, None] + img[y1][:, x1] * fx[None, :, None]
    return top * (1 - fy)[:, None, None] + bot * fy[:, None, None]


def check_inputs(size):
    import skimage.data  # python3-skimage; only needed for --check
    imgs, names = [], []
    for p in PHOTOS:
        img = np.asarray(getattr(skimage.data, p)(), dtype=np.float64) / 255.0
        if img.ndim == 2:
            img = np.stack([img] * 3, axis=-1)
        imgs.append(bilinear_resize(img[:, :, :3], size))
        names.append(p)
    # float32 is what graft reads; the reference uses the same rounded values
    return np.stack(imgs).astype(np.float32), names


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model-js", help="model.min.js (or model.json)")
    ap.add_argument("--weights-js", nargs="+", help="weight shard(s): .min.js or .bin")
    ap.add_argument("--out", help="ONNX file to write")
    ap.add_argument("--size", type=int, default=224, help="input height = width (default 224)")
    ap.add_argument("--head", choices=("linear", "full"), default="linear")
    ap.add_argument("--check", metavar="DIR", help="write inputs and float64 reference here")
    ap.add_argument("--compare", nargs=2, metavar=("DIR", "GRAFT_OUT.f32"),
                    help="compare graft's outputs (N x D float32) with DIR's reference")
    ap.add_argument("--what", choices=("features", "logits"), default="features")
    args = ap.parse_args()

    if args.compare:
        d, path = args.compare
        ref = np.fromfile(os.path.join(d, "ref_%s.f64" % args.what), dtype=np.float64)
        got = np.fromfile(path, dtype=np.float32).astype(np.float64)
        if got.size != ref.size:
            raise SystemExit("compare: %s has %d values, reference %d" % (path, got.size, ref.size))
        n = len(open(os.path.join(d, "names.txt")).read().split())
        ref, got = ref.reshape(n, -1), got.reshape(n, -1)
        worst = 0.0
        for i in range(n):
            rel = np.abs(got[i] - ref[i]).max() / np.abs(ref[i]).max()
            worst = max(worst, rel)
            print("image %d: max|graft-ref| / max|ref| = %.3g (max|ref| %.4g)"
                  % (i, rel, np.abs(ref[i]).max()))
        print("worst relative error %.3g over %d images x %d %s" % (worst, n, ref.shape[1], args.what))
        return 0 if worst < 1e-3 else 1

    if not args.model_js or not args.weights_js:
        ap.error("--model-js and --weights-js are needed")
    model = load_model_js(args.model_js)
    weights = decode_weights(model["weightsManifest"], [load_shard_js(p) for p in args.weights_js])
    layers = keras_layers(model)
    nparam = sum(v.size for v in weights.values())
    print("tfjs_to_onnx: %d layers, %d weight tensors, %d values" % (len(layers), len(weights), nparam))
    if args.out:
        import onnx
        m = build_onnx(layers, weights, args.size, args.head)
        tmp = args.out + ".tmp"
        onnx.save(m, tmp)
        os.replace(tmp, args.out)
        print("tfjs_to_onnx: wrote %s (%d nodes, input %dx%d, head %s)"
              % (args.out, len(m.graph.node), args.size, args.size, args.head))
    if args.check:
        os.makedirs(args.check, exist_ok=True)
        x, names = check_inputs(args.size)
        feats, logits = ref_forward(layers, weights, x.astype(np.float64))
        x.transpose(0, 3, 1, 2).astype(np.float32).tofile(os.path.join(args.check, "inputs.f32"))
        feats.tofile(os.path.join(args.check, "ref_features.f64"))
        logits.tofile(os.path.join(args.check, "ref_logits.f64"))
        with open(os.path.join(args.check, "names.txt"), "w") as f:
            f.write("\n".join(names) + "\n")
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        prob = e / e.sum(axis=1, keepdims=True)
        for nm, p in zip(names, prob):
            print("reference %-16s nsfwjs classes %s" % (nm, " ".join("%.3f" % v for v in p)))
        print("tfjs_to_onnx: wrote %d inputs and references to %s" % (len(names), args.check))
    return 0


if __name__ == "__main__":
    sys.exit(main())
