#!/usr/bin/env node
// onnxruntime runs quench's QDQ exports and must agree with quench's executor running the same
// files. The exports, inputs and quench outputs are written by the unit test
// ExportQdqOrt.WriteModelsForOnnxruntime (tests/export/qdq_ort_files_test.cpp) into DIR with a
// manifest.json; each entry is checked by its kind:
//   classifier  top-1 agreement >= 99.5 % and max |ort - quench| <= 2 output quantization steps
//   close       max |ort - quench| <= 1e-5 * max(1, max |quench|)
//
//   node tests/export/qdq_ort_check.mjs --dir BUILD/export_qdq [--ort BUILD] [--threads N]
//        [--opt all|extended|basic|disabled]   (onnxruntime graph optimizations, default all)
//
// One line per model; exits 1 if any fails (or the manifest is missing or empty).

import fs from 'node:fs';
import path from 'node:path';
import { readNpy } from '../ort/npy.mjs';
import { diffStats, loadOrt, parseArgs } from '../ort/ort_util.mjs';

const kUsage = 'usage: node qdq_ort_check.mjs --dir EXPORT_DIR [--ort BUILD_DIR] [--threads N] ' +
  '[--opt all|extended|basic|disabled]';

function argmaxAgreement(got, ref, shape) {
  const rows = shape[0];
  const classes = shape.slice(1).reduce((a, b) => a * b, 1);
  let same = 0;
  for (let r = 0; r < rows; r++) {
    let bg = 0;
    let br = 0;
    for (let c = 1; c < classes; c++) {
      if (got[r * classes + c] > got[r * classes + bg]) bg = c;
      if (ref[r * classes + c] > ref[r * classes + br]) br = c;
    }
    if (bg === br) same++;
  }
  return same / rows;
}

async function checkEntry(ort, dir, entry, opts) {
  const session = await ort.InferenceSession.create(path.join(dir, entry.model), {
    intraOpNumThreads: opts.threads ?? 1, interOpNumThreads: 1, executionMode: 'sequential',
    graphOptimizationLevel: opts.opt ?? 'all',
  });
  const x = readNpy(path.join(dir, entry.input_file));
  const ref = readNpy(path.join(dir, entry.expected_file));
  const feeds = { [entry.input]: new ort.Tensor(x.dtype, x.data, x.shape) };
  const result = await session.run(feeds);
  const got = result[session.outputNames[0]];
  const shape = got.dims.map(Number);
  if (shape.join(',') !== ref.shape.join(',')) {
    return { ok: false, line: `shape [${shape}] != quench [${ref.shape}]` };
  }
  const { maxDiff, maxRef } = diffStats(got.data, ref.data);
  if (entry.check === 'classifier') {
    const agreement = argmaxAgreement(got.data, ref.data, shape);
    const steps = maxDiff / entry.step;
    return {
      ok: agreement >= 0.995 && steps <= 2,
      line: `opset ${entry.opset}: top-1 agreement ${(100 * agreement).toFixed(2)}% (${shape[0]} ` +
        `images), max |diff| ${maxDiff.toExponential(2)} = ${steps.toFixed(2)} output steps`,
    };
  }
  const tol = 1e-5 * Math.max(1, maxRef);
  return {
    ok: maxDiff <= tol,
    line: `opset ${entry.opset}: max |diff| ${maxDiff.toExponential(2)} (tolerance ${tol.toExponential(2)})`,
  };
}

async function main() {
  const opts = parseArgs(process.argv.slice(2), {
    dir: 'string', ort: 'string', threads: 'number', opt: 'string', help: 'bool',
  });
  if (opts.help || !opts.dir) {
    console.log(kUsage);
    process.exit(opts.help ? 0 : 2);
  }
  const manifestFile = path.join(opts.dir, 'manifest.json');
  if (!fs.existsSync(manifestFile)) {
    console.log(`FAIL ${manifestFile} is missing: run quench_export_tests ` +
      '--gtest_filter=ExportQdqOrt.* first');
    process.exit(1);
  }
  const manifest = JSON.parse(fs.readFileSync(manifestFile, 'utf8'));
  if (!Array.isArray(manifest) || manifest.length === 0) {
    console.log(`FAIL ${manifestFile} lists no models`);
    process.exit(1);
  }
  const ort = loadOrt(opts.ort);
  let failed = 0;
  for (const entry of manifest) {
    let r;
    try {
      r = await checkEntry(ort, opts.dir, entry, opts);
    } catch (e) {
      r = { ok: false, line: String(e.message ?? e) };
    }
    if (!r.ok) failed++;
    console.log(`${r.ok ? 'PASS' : 'FAIL'} ${entry.name}: ${r.line}`);
  }
  console.log(`export_qdq_ort: ${manifest.length - failed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

main();
