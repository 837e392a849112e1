#!/usr/bin/env node
// ONNX Runtime side of graft's benchmarks (tools/bench.sh --backbones,
// tools/zoo.sh): runs an ONNX model on raw float32 inputs and prints one JSON
// line on stdout, like tools/bench_graft and tools/bench_torch.py.
//
//   node tools/ort/run.js --model M.onnx --input X.f32 --shape N,C,H,W
//        [--output Y.f32] [--warmup W] [--iters I] [--threads T]
//
// X.f32 holds K images of C*H*W float32 (NCHW, already normalised); a batch
// of N is its first N images, repeated from the start if K < N. One session,
// T intra-op threads (default 2), one inter-op thread, sequential execution,
// every graph optimisation on. W warm-up runs, then I timed runs of the same
// batch; images/s = N / median run. --output writes the logits of the last
// run (N x classes float32). Needs onnxruntime-node: tools/ort/install.sh
// prints the folder to put in NODE_PATH.
"use strict";
const fs = require("fs");

function usage(msg) {
    if (msg) process.stderr.write(`ort run.js: ${msg}\n`);
    process.stderr.write("usage: run.js --model M.onnx --input X.f32 --shape N,C,H,W " +
                         "[--output Y.f32] [--warmup W] [--iters I] [--threads T]\n");
    process.exit(2);
}

const opt = { warmup: 2, iters: 5, threads: 2 };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i], v = argv[i + 1];
    if (v === undefined) usage(`${k} needs a value`);
    switch (k) {
    case "--model": opt.model = v; break;
    case "--input": opt.input = v; break;
    case "--output": opt.output = v; break;
    case "--shape": opt.shape = v.split(",").map(Number); break;
    case "--warmup": opt.warmup = Number(v); break;
    case "--iters": opt.iters = Number(v); break;
    case "--threads": opt.threads = Number(v); break;
    default: usage(`unknown option ${k}`);
    }
}
if (!opt.model || !opt.input || !opt.shape) usage("--model, --input and --shape are required");
if (opt.shape.length !== 4 || opt.shape.some((d) => !(Number.isInteger(d) && d > 0)))
    usage("--shape wants four positive integers N,C,H,W");
if (!(opt.iters >= 1) || !(opt.warmup >= 0) || !(opt.threads >= 1))
    usage("bad --iters/--warmup/--threads");

let ort;
try {
    ort = require("onnxruntime-node");
} catch (e) {
    process.stderr.write("ort run.js: onnxruntime-node not found (run tools/ort/install.sh and " +
                         "set NODE_PATH to the folder it prints)\n");
    process.exit(1);
}

function median(v) {
    const s = [...v].sort((a, b) => a - b), n = s.length;
    return n % 2 ? s[(n - 1) / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
}

async function main() {
    const [n, c, h, w] = opt.shape, per = c * h * w;
    const raw = fs.readFileSync(opt.input);
    if (raw.length === 0 || raw.length % (per * 4))
        throw new Error(`${opt.input}: ${raw.length} bytes is not a multiple of ${c}x${h}x${w} floats`);
    const have = raw.length / (per * 4);
    const src = new Float32Array(raw.buffer, raw.byteOffset, raw.length / 4);
    const x = new Float32Array(n * per);
    for (let i = 0; i < n; i++) x.set(src.subarray((i % have) * per, (i % have + 1) * per), i * per);

    const t0 = process.hrtime.bigint();
    const session = await ort.InferenceSession.create(opt.model, {
        executionProviders: ["cpu"],
        intraOpNumThreads: opt.threads,
        interOpNumThreads: 1,
        executionMode: "sequential",
        graphOptimizationLevel: "all",
    });
    const loadS = Number(process.hrtime.bigint() - t0) * 1e-9;
    const feeds = { [session.inputNames[0]]: new ort.Tensor("float32", x, opt.shape) };
    const outName = session.outputNames[0];
    const times = [];
    let y;
    for (let i = 0; i < opt.warmup + opt.iters; i++) {
        const a = process.hrtime.bigint();
        const r = await session.run(feeds);
        const dt = Number(process.hrtime.bigint() - a) * 1e-9;
        if (i >= opt.warmup) times.push(dt);
        y = r[outName];
    }
    if (opt.output)
        fs.writeFileSync(opt.output, Buffer.from(y.data.buffer, y.data.byteOffset, y.data.byteLength));
    const med = median(times);
    const out = {
        what: "infer", side: "onnxruntime", version: ort.env.versions.common, model: opt.model,
        batch: n, height: h, width: w, threads: opt.threads,
        images_per_s: +(n / med).toFixed(2), median_step_ms: +(med * 1e3).toFixed(3),
        min_step_ms: +(Math.min(...times) * 1e3).toFixed(3),
        max_step_ms: +(Math.max(...times) * 1e3).toFixed(3), iters: opt.iters,
        load_s: +loadS.toFixed(3), output_shape: y.dims,
        // maxRSS is in KiB
        peak_rss_mib: +(process.resourceUsage().maxRSS / 1024).toFixed(1),
    };
    process.stdout.write(JSON.stringify(out) + "\n");
}

main().catch((e) => {
    process.stderr.write(`ort run.js: ${e.message || e}\n`);
    process.exit(1);
});
