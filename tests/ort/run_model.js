#!/usr/bin/env node
// Runs an ONNX model in ONNX Runtime (CPU) on a file of float32 samples and writes the outputs.
// Usage: node run_model.js MODEL.onnx INPUT.f32 OUTPUT.f32 DIMS [unfused]
//   INPUT.f32  little-endian float32, samples one after another
//   DIMS       one sample's shape without the batch dimension, e.g. 784 or 1,28,28
//   OUTPUT.f32 the model's first output, float32, samples one after another
//   unfused    graph optimizations off: ORT runs the QDQ graph op by op (DequantizeLinear, float
//              Gemm/Conv, QuantizeLinear) instead of fusing it into its int8 kernels
'use strict';
const fs = require('fs');
const ort = require('onnxruntime-node');

async function main() {
  const [model, inputPath, outputPath, dimsText, mode] = process.argv.slice(2);
  if (!model || !inputPath || !outputPath || !dimsText) {
    console.error('usage: node run_model.js MODEL.onnx INPUT.f32 OUTPUT.f32 DIMS');
    process.exit(2);
  }
  const dims = dimsText.split(',').map(Number);
  const perSample = dims.reduce((a, b) => a * b, 1);
  const bytes = fs.readFileSync(inputPath);
  const input = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
  const samples = input.length / perSample;
  if (!Number.isInteger(samples)) throw new Error(`${inputPath}: size is not a multiple of ${perSample} floats`);
  const options = {executionProviders: ['cpu'], intraOpNumThreads: 1};
  if (mode === 'unfused') options.graphOptimizationLevel = 'disabled';
  const session = await ort.InferenceSession.create(model, options);
  const inputName = session.inputNames[0];
  const outputName = session.outputNames[0];
  const chunks = [];
  const batch = 1000;
  for (let begin = 0; begin < samples; begin += batch) {
    const n = Math.min(batch, samples - begin);
    const tensor = new ort.Tensor('float32', input.subarray(begin * perSample, (begin + n) * perSample), [n, ...dims]);
    const result = await session.run({[inputName]: tensor});
    chunks.push(Buffer.from(new Float32Array(result[outputName].data).buffer));
  }
  fs.writeFileSync(outputPath, Buffer.concat(chunks));
}

main().catch((e) => {
  console.error(`run_model.js: ${e.message}`);
  process.exit(1);
});
