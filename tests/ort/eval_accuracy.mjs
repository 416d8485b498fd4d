#!/usr/bin/env node
// Top-1 accuracy of Fashion-MNIST models on the 10k test set, run with onnxruntime: checks that
// the exported ONNX files score what models/README.md claims (torch computed those numbers).
//
//   node tests/ort/eval_accuracy.mjs [--ort BUILD_DIR] [--threads N] [model.onnx ...]
//
// Without models: models/fashion_cnn.onnx and every models/zoo/*.onnx.

import path from 'node:path';
import { defaultModels, loadOrt, parseArgs, loadFashionTest } from './ort_util.mjs';

async function accuracy(ort, model, test, threads, batch = 500) {
  const session = await ort.InferenceSession.create(model, { intraOpNumThreads: threads, interOpNumThreads: 1 });
  const [inName] = session.inputNames;
  const [outName] = session.outputNames;
  const n = test.labels.length;
  let correct = 0;
  for (let start = 0; start < n; start += batch) {
    const rows = Math.min(batch, n - start);
    const data = test.tensor.data.subarray(start * 784, (start + rows) * 784);
    const out = await session.run({ [inName]: new ort.Tensor('float32', data, [rows, 1, 28, 28]) });
    const logits = out[outName].data;
    const classes = logits.length / rows;
    for (let r = 0; r < rows; r++) {
      let best = 0;
      for (let c = 1; c < classes; c++) if (logits[r * classes + c] > logits[r * classes + best]) best = c;
      if (best === test.labels[start + r]) correct++;
    }
  }
  return correct;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2), { ort: 'string', threads: 'number' });
  const ort = loadOrt(opts.ort);
  const models = opts._.length ? opts._ : defaultModels();
  const test = loadFashionTest();
  for (const model of models) {
    const correct = await accuracy(ort, model, test, opts.threads ?? 1);
    console.log(`${path.basename(model)}: ${(correct / test.labels.length * 100).toFixed(2)}% ` +
      `(${correct}/${test.labels.length})`);
  }
}

main().catch((err) => {
  console.error(`eval_accuracy: ${err.message ?? err}`);
  process.exit(1);
});
