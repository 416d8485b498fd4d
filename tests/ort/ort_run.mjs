#!/usr/bin/env node
// Runs an ONNX model with onnxruntime and writes every output as .npy: the reference side of
// `quench run`, with the same command-line contract.
//
//   node tests/ort/ort_run.mjs MODEL --input [name=]file.npy ... --output-dir DIR
//        [--output FILE] [--threads N] [--opt all|extended|basic|disabled] [--ort BUILD_DIR]
//
// Each output goes to DIR/<output name, chars outside [A-Za-z0-9_.-] replaced by _>.npy;
// --output FILE also writes the first output to FILE. Inputs without "name=" are bound to the
// model's inputs in order.

import fs from 'node:fs';
import path from 'node:path';
import { readNpy, writeNpy, sanitizeName } from './npy.mjs';
import { loadOrt, parseArgs, toOrtFeeds, fromOrtTensor } from './ort_util.mjs';

const kUsage = 'usage: node ort_run.mjs MODEL --input [name=]file.npy ... --output-dir DIR ' +
  '[--output FILE] [--threads N] [--opt LEVEL] [--ort BUILD_DIR]';

export function bindInputs(specs, inputNames) {
  const tensors = {};
  let next = 0;
  for (const spec of specs) {
    const eq = spec.indexOf('=');
    let name;
    let file;
    // "name=file" unless the part before '=' looks like a path (no name has a '/').
    if (eq > 0 && !spec.slice(0, eq).includes('/')) {
      name = spec.slice(0, eq);
      file = spec.slice(eq + 1);
      if (!inputNames.includes(name)) {
        throw new Error(`--input ${spec}: model has no input "${name}" (inputs: ${inputNames.join(', ')})`);
      }
    } else {
      if (next >= inputNames.length) {
        throw new Error(`--input ${spec}: model has only ${inputNames.length} input(s)`);
      }
      while (next < inputNames.length && tensors[inputNames[next]]) next++;
      name = inputNames[next++];
      file = spec;
    }
    if (tensors[name]) throw new Error(`--input ${spec}: input "${name}" given twice`);
    tensors[name] = readNpy(file);
  }
  const missing = inputNames.filter((n) => !tensors[n]);
  if (missing.length) throw new Error(`no --input for model input(s) ${missing.join(', ')}`);
  return tensors;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2), {
    input: 'list', output_dir: 'string', output: 'string', threads: 'number', opt: 'string',
    ort: 'string', help: 'bool',
  });
  if (opts.help || opts._.length !== 1 || (!opts.output_dir && !opts.output)) {
    console.error(kUsage);
    process.exit(opts.help ? 0 : 2);
  }
  const ort = loadOrt(opts.ort);
  const session = await ort.InferenceSession.create(opts._[0], {
    intraOpNumThreads: opts.threads ?? 1,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: opts.opt ?? 'all',
  });
  const tensors = bindInputs(opts.input, session.inputNames);
  const results = await session.run(toOrtFeeds(ort, tensors));
  if (opts.output_dir) fs.mkdirSync(opts.output_dir, { recursive: true });
  session.outputNames.forEach((name, i) => {
    const t = fromOrtTensor(results[name]);
    if (opts.output_dir) writeNpy(path.join(opts.output_dir, sanitizeName(name) + '.npy'), t);
    if (i === 0 && opts.output) writeNpy(opts.output, t);
  });
}

main().catch((err) => {
  console.error(`ort_run: ${err.message ?? err}`);
  process.exit(1);
});
