#!/usr/bin/env node
// Times ONNX Runtime (CPU) on the MNIST test images: best of N runs over all samples.
// Usage: node bench/ort_time.js MODEL.onnx IMAGES.idx3-ubyte.gz SCALE THREADS REPEATS [BATCH]
// BATCH 0 (default) runs one sample per call (a model with a fixed batch dimension of 1 must);
// BATCH > 0 runs that many samples per call (the model's batch dimension must be symbolic:
// bench/batch_symbolic.py makes such a copy). ORT_DIMS gives one sample's shape with a leading
// batch entry, e.g. 1,784,1 (mnistfc, the default) or 1,1,28,28 (a CNN).
'use strict';
const fs = require('fs');
const zlib = require('zlib');
const path = require('path');
const ort = require(path.join(__dirname, '..', 'tests', 'ort', 'node_modules', 'onnxruntime-node'));

async function main() {
  const [model, images, scaleText, threadsText, repeatsText, batchText] = process.argv.slice(2);
  const raw = zlib.gunzipSync(fs.readFileSync(images));
  const n = raw.readUInt32BE(4), rows = raw.readUInt32BE(8), cols = raw.readUInt32BE(12);
  const per = rows * cols, scale = Number(scaleText);
  const x = new Float32Array(n * per);
  for (let i = 0; i < n * per; ++i) x[i] = raw[16 + i] * scale;
  const threads = Number(threadsText || 1);
  const session = await ort.InferenceSession.create(model, {executionProviders: ['cpu'],
    intraOpNumThreads: threads, interOpNumThreads: 1});
  const meta = session.inputNames[0];
  const dims = process.env.ORT_DIMS ? process.env.ORT_DIMS.split(',').map(Number) : [1, per, 1];
  const batch = Number(batchText || 0);
  const step = batch > 0 ? batch : 1;
  let best = Infinity;
  for (let r = 0; r < Number(repeatsText || 3); ++r) {
    const t0 = process.hrtime.bigint();
    for (let s = 0; s < n; s += step) {
      const count = Math.min(step, n - s);
      const shape = [batch > 0 ? count : dims[0], ...dims.slice(1)];
      const t = new ort.Tensor('float32', x.subarray(s * per, (s + count) * per), shape);
      await session.run({[meta]: t});
    }
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e9);
  }
  const mode = batch > 0 ? `batches of ${batch}` : 'one per run';
  console.log(`onnxruntime ${n} samples, ${mode}, ${threads} thread(s): ${best.toFixed(4)} s`);
}
main().catch((e) => { console.error(e.message); process.exit(1); });
