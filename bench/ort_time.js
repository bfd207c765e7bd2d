#!/usr/bin/env node
// Times ONNX Runtime (CPU) on the MNIST test images: best of N runs over all samples.
// Usage: node bench/ort_time.js MODEL.onnx IMAGES.idx3-ubyte.gz SCALE THREADS REPEATS
// A model with a fixed batch dimension of 1 is run one sample per call (as it must be).
'use strict';
const fs = require('fs');
const zlib = require('zlib');
const path = require('path');
const ort = require(path.join(__dirname, '..', 'tests', 'ort', 'node_modules', 'onnxruntime-node'));

async function main() {
  const [model, images, scaleText, threadsText, repeatsText] = process.argv.slice(2);
  const raw = zlib.gunzipSync(fs.readFileSync(images));
  const n = raw.readUInt32BE(4), rows = raw.readUInt32BE(8), cols = raw.readUInt32BE(12);
  const per = rows * cols, scale = Number(scaleText);
  const x = new Float32Array(n * per);
  for (let i = 0; i < n * per; ++i) x[i] = raw[16 + i] * scale;
  const session = await ort.InferenceSession.create(model, {executionProviders: ['cpu'],
    intraOpNumThreads: Number(threadsText || 1), interOpNumThreads: 1});
  const meta = session.inputNames[0];
  // Shape from the model: [1,784,1] (mnistfc) or [1,1,28,28] (CNN); batch 1 when fixed.
  const dims = process.env.ORT_DIMS ? process.env.ORT_DIMS.split(',').map(Number) : [1, per, 1];
  let best = Infinity;
  for (let r = 0; r < Number(repeatsText || 3); ++r) {
    const t0 = process.hrtime.bigint();
    for (let s = 0; s < n; ++s) {
      const t = new ort.Tensor('float32', x.subarray(s * per, (s + 1) * per), dims);
      await session.run({[meta]: t});
    }
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e9);
  }
  console.log(`onnxruntime ${n} samples, one per run, ${threadsText || 1} thread(s): ${best.toFixed(4)} s`);
}
main().catch((e) => { console.error(e.message); process.exit(1); });
