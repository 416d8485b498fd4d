// Shared pieces of the onnxruntime harness: finding the onnxruntime-node install that
// scripts/setup_ort made, a tiny argument parser, a seeded PRNG, Fashion-MNIST test images,
// and deterministic model inputs.
//
//   import { loadOrt, makeInputs } from './ort_util.mjs';
//   const ort = loadOrt(args.ort);                       // BUILD_DIR/ort from setup_ort
//   const session = await ort.InferenceSession.create('models/fashion_cnn.onnx');
//   const inputs = makeInputs(session, { seed: 1 });      // { input: {dtype, shape, data} }

import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export const kRepoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const kFashionDir = '/usr/share/datasets/fashion-mnist';

function candidateModuleDirs(hint) {
  const dirs = [];
  const add = (d) => {
    if (!d) return;
    // Accept BUILD_DIR, BUILD_DIR/ort or BUILD_DIR/ort/node_modules.
    dirs.push(path.join(d, 'ort', 'node_modules'), path.join(d, 'node_modules'), d);
  };
  add(hint);
  add(process.env.QUENCH_ORT_DIR);
  dirs.push(path.join(kRepoRoot, 'tests', 'ort', 'node_modules'));
  for (const entry of fs.readdirSync(kRepoRoot).sort()) {
    if (entry.startsWith('build')) dirs.push(path.join(kRepoRoot, entry, 'ort', 'node_modules'));
  }
  return dirs;
}

// Returns the onnxruntime-node module. `hint` is --ort (BUILD_DIR or BUILD_DIR/ort); without it,
// $QUENCH_ORT_DIR, tests/ort/node_modules and <repo>/build*/ort are tried in that order.
export function loadOrt(hint) {
  for (const dir of candidateModuleDirs(hint)) {
    if (fs.existsSync(path.join(dir, 'onnxruntime-node', 'package.json'))) {
      const require = createRequire(path.resolve(dir, 'noop.js'));
      return require('onnxruntime-node');
    }
  }
  throw new Error('onnxruntime-node not found: run `scripts/setup_ort BUILD_DIR` and pass ' +
    '--ort BUILD_DIR (or set QUENCH_ORT_DIR)');
}

// Parses `--name value` / `--flag` / positional arguments. `spec` maps option names to
// 'string' | 'number' | 'bool' | 'list' (repeatable string).
export function parseArgs(argv, spec) {
  const opts = { _: [] };
  for (const [name, kind] of Object.entries(spec)) if (kind === 'list') opts[name] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) {
      opts._.push(arg);
      continue;
    }
    let name = arg.slice(2);
    let value;
    const eq = name.indexOf('=');
    if (eq >= 0) {
      value = name.slice(eq + 1);
      name = name.slice(0, eq);
    }
    const key = name.replace(/-/g, '_');
    const kind = spec[key];
    if (!kind) throw new Error(`unknown option --${name}`);
    if (kind === 'bool') {
      opts[key] = true;
      continue;
    }
    if (value === undefined) {
      if (i + 1 >= argv.length) throw new Error(`option --${name} needs a value`);
      value = argv[++i];
    }
    if (kind === 'number') {
      const n = Number(value);
      if (!Number.isFinite(n)) throw new Error(`option --${name}: "${value}" is not a number`);
      opts[key] = n;
    } else if (kind === 'list') {
      opts[key].push(value);
    } else {
      opts[key] = value;
    }
  }
  return opts;
}

// The models every harness covers: the bundled model and the test zoo.
export function defaultModels() {
  const models = [path.join(kRepoRoot, 'models', 'fashion_cnn.onnx')];
  const zoo = path.join(kRepoRoot, 'models', 'zoo');
  if (fs.existsSync(zoo)) {
    for (const f of fs.readdirSync(zoo).sort()) if (f.endsWith('.onnx')) models.push(path.join(zoo, f));
  }
  return models;
}

// mulberry32: small, fast, and the same sequence on every platform for a given seed.
export function makeRng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function readIdx(file) {
  const raw = zlib.gunzipSync(fs.readFileSync(file));
  if (raw[0] !== 0 || raw[1] !== 0 || raw[2] !== 0x08) {
    throw new Error(`${file}: not an IDX uint8 file (magic ${raw.subarray(0, 4).toString('hex')})`);
  }
  const ndim = raw[3];
  const dims = [];
  for (let i = 0; i < ndim; i++) dims.push(raw.readUInt32BE(4 + 4 * i));
  return { dims, data: raw.subarray(4 + 4 * ndim) };
}

// The Fashion-MNIST test set: images as float32 pixel/255 [count,1,28,28], labels as numbers.
export function loadFashionTest(start = 0, count = 10000) {
  const images = readIdx(path.join(kFashionDir, 't10k-images-idx3-ubyte.gz'));
  const labels = readIdx(path.join(kFashionDir, 't10k-labels-idx1-ubyte.gz'));
  const n = Math.min(count, images.dims[0] - start);
  const pixels = images.data.subarray(start * 784, (start + n) * 784);
  const data = new Float32Array(n * 784);
  for (let i = 0; i < data.length; i++) data[i] = pixels[i] / 255;
  return {
    tensor: { dtype: 'float32', shape: [n, 1, 28, 28], data },
    labels: Array.from(labels.data.subarray(start, start + n)),
  };
}

// An input taking Fashion-MNIST images: float32 [batch,1,28,28] with a symbolic or free batch.
export function isFashionInput(meta) {
  const s = meta.shape;
  return meta.type === 'float32' && s && s.length === 4 && typeof s[0] !== 'number' &&
    s[1] === 1 && s[2] === 28 && s[3] === 28;
}

function concreteShape(meta, dynamicDim) {
  if (!meta.shape) throw new Error(`input "${meta.name}": no declared shape`);
  return meta.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : dynamicDim));
}

// A seeded random tensor of the given type and shape: floats uniform in [lo, hi), integers 0 or
// 1 (so that an integer input used as indices stays in bounds of any dim >= 2), bools half true.
export function randomTensor(dtype, shape, rng, lo = -1, hi = 1) {
  const count = shape.reduce((a, b) => a * b, 1);
  switch (dtype) {
    case 'float32':
    case 'float64': {
      const data = dtype === 'float32' ? new Float32Array(count) : new Float64Array(count);
      for (let i = 0; i < count; i++) data[i] = lo + (hi - lo) * rng();
      return { dtype, shape, data };
    }
    case 'int64': {
      const data = new BigInt64Array(count);
      for (let i = 0; i < count; i++) data[i] = BigInt(Math.floor(rng() * 2));
      return { dtype, shape, data };
    }
    case 'int32':
    case 'int8':
    case 'uint8': {
      const Typed = { int32: Int32Array, int8: Int8Array, uint8: Uint8Array }[dtype];
      const data = new Typed(count);
      for (let i = 0; i < count; i++) data[i] = Math.floor(rng() * 2);
      return { dtype, shape, data };
    }
    case 'bool': {
      const data = new Uint8Array(count);
      for (let i = 0; i < count; i++) data[i] = rng() < 0.5 ? 1 : 0;
      return { dtype, shape, data };
    }
    default:
      throw new Error(`no random generator for input type ${dtype}`);
  }
}

// Deterministic inputs for a session: Fashion-MNIST test images (the first `batch`) for image
// inputs, otherwise seeded random data of the declared shape with dynamic dims set to
// `dynamicDim`. Returns { name: tensor } in the session's input order.
export function makeInputs(session, { seed = 1, batch = 16, dynamicDim = 2, images = null } = {}) {
  const rng = makeRng(seed);
  const inputs = {};
  for (const meta of session.inputMetadata) {
    if (!meta.isTensor) throw new Error(`input "${meta.name}" is not a tensor`);
    if (isFashionInput(meta)) {
      inputs[meta.name] = (images ?? loadFashionTest(0, batch)).tensor;
    } else {
      inputs[meta.name] = randomTensor(meta.type, concreteShape(meta, dynamicDim), rng);
    }
  }
  return inputs;
}

// The same, for benchmarks: image inputs get `batch` rows of seeded uniform [0,1) noise (no
// dataset read), other dynamic dims are `batch` too only in the first axis.
export function makeBenchInputs(session, batch, seed = 7) {
  const rng = makeRng(seed);
  const inputs = {};
  for (const meta of session.inputMetadata) {
    const shape = concreteShape(meta, 1);
    if (meta.shape.length > 0 && typeof meta.shape[0] !== 'number') shape[0] = batch;
    const floatish = meta.type === 'float32' || meta.type === 'float64';
    inputs[meta.name] = randomTensor(meta.type, shape, rng, floatish ? 0 : -1, 1);
  }
  return inputs;
}

export function toOrtFeeds(ort, tensors) {
  const feeds = {};
  for (const [name, t] of Object.entries(tensors)) feeds[name] = new ort.Tensor(t.dtype, t.data, t.shape);
  return feeds;
}

export function fromOrtTensor(t) {
  return { dtype: t.type, shape: t.dims.map(Number), data: t.data };
}

function toNumber(v) {
  return typeof v === 'bigint' ? Number(v) : v;
}

// Max abs difference and max finite |ref|. A NaN in one but not the other, or infinities that
// differ, count as an infinite difference.
export function diffStats(got, ref) {
  let maxDiff = 0;
  let maxRef = 0;
  for (let i = 0; i < ref.length; i++) {
    const r = toNumber(ref[i]);
    const g = toNumber(got[i]);
    if (Number.isNaN(r) || Number.isNaN(g)) {
      if (Number.isNaN(r) !== Number.isNaN(g)) maxDiff = Infinity;
      continue;
    }
    const d = r === g ? 0 : Math.abs(g - r);   // r === g also covers equal infinities
    if (d > maxDiff) maxDiff = d;
    if (Number.isFinite(r) && Math.abs(r) > maxRef) maxRef = Math.abs(r);
  }
  return { maxDiff, maxRef };
}
