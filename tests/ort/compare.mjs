#!/usr/bin/env node
// Conformance check: runs each model with `quench run` and with onnxruntime on the same inputs
// and compares every output. A model passes when
//     max |quench - ort| <= tol * max(1, max |ort|)        (tol = 1e-4 by default)
// i.e. the error is measured relative to the output's scale.
//
//   node tests/ort/compare.mjs --quench BUILD/tools/cli/quench [--ort BUILD] [extra.onnx ...]
//        [--tol 1e-4] [--threads N] [--work DIR] [--no-default-models] [--keep]
//
// Models: models/fashion_cnn.onnx, every models/zoo/*.onnx, then any given on the command line.
// Inputs: inputs shaped like Fashion-MNIST images ([batch,1,28,28] float32) get the first 16
// test images (pixel/255); any other input gets seeded random data of its declared shape with
// dynamic dims set to 2. One line per model; exits 1 if any model fails or errors.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { readNpy, writeNpy, sanitizeName } from './npy.mjs';
import {
  defaultModels, diffStats, loadOrt, parseArgs, makeInputs, loadFashionTest, toOrtFeeds, fromOrtTensor,
} from './ort_util.mjs';

const kUsage = 'usage: node compare.mjs --quench QUENCH [--ort BUILD_DIR] [--tol 1e-4] ' +
  '[--threads N] [--work DIR] [--timeout S] [--no-default-models] [--keep] [model.onnx ...]';

function fmt(x) {
  return Number.isFinite(x) ? x.toExponential(2) : String(x);
}

// Short labels: the file name, or its last two path parts when file names repeat (the ONNX
// backend tests are all called model.onnx).
function labels(models) {
  const count = {};
  for (const m of models) count[path.basename(m)] = (count[path.basename(m)] ?? 0) + 1;
  return models.map((m) => (count[path.basename(m)] > 1 ? path.join(path.basename(path.dirname(m)), path.basename(m)) : path.basename(m)));
}

async function compareModel(ort, model, name, index, opts, images) {
  const work = path.join(opts.work, `${index}_${sanitizeName(name.replace(/\.onnx$/, ''))}`);
  const quenchOut = path.join(work, 'quench');
  fs.rmSync(work, { recursive: true, force: true });
  fs.mkdirSync(quenchOut, { recursive: true });

  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: opts.threads, interOpNumThreads: 1, executionMode: 'sequential',
  });
  const inputs = makeInputs(session, { images, batch: 16, dynamicDim: 2, seed: 1 });
  const inputArgs = [];
  for (const [inputName, t] of Object.entries(inputs)) {
    const file = path.join(work, `input_${sanitizeName(inputName)}.npy`);
    writeNpy(file, t);
    inputArgs.push('--input', `${inputName}=${file}`);
  }

  const args = ['run', model, ...inputArgs, '--output-dir', quenchOut];
  const proc = spawnSync(opts.quench, args, {
    encoding: 'utf8', timeout: opts.timeout * 1000, maxBuffer: 64 << 20,
  });
  if (proc.error || proc.status !== 0) {
    const why = proc.error ? proc.error.message : `exit ${proc.status ?? proc.signal}`;
    const stderr = (proc.stderr || '').trim().split('\n').slice(-3).join(' | ');
    return { name, ok: false, text: `quench run failed (${why}): ${stderr}` };
  }

  const results = await session.run(toOrtFeeds(ort, inputs));
  let worst = 0;
  let worstScale = 1;
  let compared = 0;
  let ok = true;
  const notes = [];
  for (const outName of session.outputNames) {
    const ref = fromOrtTensor(results[outName]);
    const file = path.join(quenchOut, sanitizeName(outName) + '.npy');
    if (!fs.existsSync(file)) {
      ok = false;
      notes.push(`${outName}: quench wrote no ${path.basename(file)}`);
      continue;
    }
    const got = readNpy(file);
    if (got.dtype !== ref.dtype || got.shape.join(',') !== ref.shape.join(',')) {
      ok = false;
      notes.push(`${outName}: quench ${got.dtype}[${got.shape}] vs ort ${ref.dtype}[${ref.shape}]`);
      continue;
    }
    const { maxDiff, maxRef } = diffStats(got.data, ref.data);
    const scale = Math.max(1, maxRef);
    compared++;
    const pass = maxDiff <= opts.tol * scale;
    if (!pass) {
      ok = false;
      notes.push(`${outName}: diff ${fmt(maxDiff)} > ${fmt(opts.tol * scale)}`);
    }
    if (maxDiff / scale >= worst / worstScale) {
      worst = maxDiff;
      worstScale = scale;
    }
  }
  if (!opts.keep) fs.rmSync(work, { recursive: true, force: true });
  const outs = session.outputNames.join(',');
  return {
    name, ok,
    text: `outputs=${session.outputNames.length} (${outs.length > 40 ? outs.slice(0, 37) + '...' : outs}) ` +
      (compared ? `max_abs_diff=${fmt(worst)} scale=${worstScale.toPrecision(4)}` : 'max_abs_diff=- scale=-') +
      (notes.length ? `  ${notes.join('; ')}` : ''),
  };
}

async function main() {
  const opts = parseArgs(process.argv.slice(2), {
    quench: 'string', ort: 'string', tol: 'number', threads: 'number', work: 'string',
    timeout: 'number', no_default_models: 'bool', keep: 'bool', help: 'bool',
  });
  if (opts.help || !opts.quench) {
    console.error(kUsage);
    process.exit(opts.help ? 0 : 2);
  }
  opts.tol ??= 1e-4;
  opts.threads ??= 1;
  opts.timeout ??= 600;
  opts.quench = path.resolve(opts.quench);
  const ownWork = !opts.work;
  opts.work = opts.work ? path.resolve(opts.work) : fs.mkdtempSync(path.join(os.tmpdir(), 'quench-compare-'));
  const ort = loadOrt(opts.ort);

  const models = [...(opts.no_default_models ? [] : defaultModels()), ...opts._.map((m) => path.resolve(m))];
  if (models.length === 0) {
    console.error('compare: no models');
    process.exit(2);
  }
  const images = loadFashionTest(0, 16);
  let failures = 0;
  const names = labels(models);
  const width = Math.max(...names.map((n) => n.length));
  for (const [i, model] of models.entries()) {
    let r;
    try {
      r = await compareModel(ort, model, names[i], i, opts, images);
    } catch (err) {
      r = { name: names[i], ok: false, text: `error: ${err.message ?? err}` };
    }
    if (!r.ok) failures++;
    console.log(`${r.ok ? 'PASS' : 'FAIL'}  ${r.name.padEnd(width)}  ${r.text}`);
  }
  if (ownWork && !opts.keep) fs.rmSync(opts.work, { recursive: true, force: true });
  console.log(`compare: ${models.length - failures} passed, ${failures} failed`);
  process.exit(failures ? 1 : 0);
}

main().catch((err) => {
  console.error(`compare: ${err.stack ?? err}`);
  process.exit(1);
});
