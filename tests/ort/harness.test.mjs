// Unit tests for the harness helpers in ort_util.mjs (no onnxruntime needed).
// Run: node --test tests/ort/

import test from 'node:test';
import assert from 'node:assert/strict';
import { diffStats, parseArgs, makeRng, loadFashionTest, isFashionInput, randomTensor } from './ort_util.mjs';

test('diffStats measures max abs diff and the finite output scale', () => {
  assert.deepEqual(diffStats(new Float32Array([1, 2.5, -3]), new Float32Array([1, 2, -4])),
    { maxDiff: 1, maxRef: 4 });
  // Equal infinities match; an infinity does not inflate the scale.
  assert.deepEqual(diffStats([Infinity, 1], [Infinity, 1]), { maxDiff: 0, maxRef: 1 });
  assert.equal(diffStats([-Infinity], [Infinity]).maxDiff, Infinity);
  assert.equal(diffStats([NaN, 0], [NaN, 0]).maxDiff, 0);
  assert.equal(diffStats([NaN], [1]).maxDiff, Infinity);
  assert.equal(diffStats([1], [NaN]).maxDiff, Infinity);
  assert.deepEqual(diffStats(new BigInt64Array([5n, -2n]), new BigInt64Array([5n, 1n])),
    { maxDiff: 3, maxRef: 5 });
});

test('parseArgs handles repeatable, numeric, boolean and positional arguments', () => {
  const o = parseArgs(['m.onnx', '--input', 'a=x.npy', '--input=b=y.npy', '--threads', '2', '--keep'],
    { input: 'list', threads: 'number', keep: 'bool' });
  assert.deepEqual(o._, ['m.onnx']);
  assert.deepEqual(o.input, ['a=x.npy', 'b=y.npy']);
  assert.equal(o.threads, 2);
  assert.equal(o.keep, true);
  assert.throws(() => parseArgs(['--bogus'], {}), /unknown option --bogus/);
  assert.throws(() => parseArgs(['--threads', 'two'], { threads: 'number' }), /"two" is not a number/);
  assert.throws(() => parseArgs(['--threads'], { threads: 'number' }), /--threads needs a value/);
});

test('makeRng is deterministic and uniform-ish', () => {
  const a = makeRng(42);
  const b = makeRng(42);
  const xs = Array.from({ length: 1000 }, () => a());
  assert.deepEqual(xs, Array.from({ length: 1000 }, () => b()));
  assert.ok(xs.every((x) => x >= 0 && x < 1));
  const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
  assert.ok(Math.abs(mean - 0.5) < 0.05, `mean ${mean}`);
  assert.notDeepEqual(xs.slice(0, 5), Array.from({ length: 5 }, makeRng(43)));
});

test('loadFashionTest returns pixel/255 images and labels (numbers checked with numpy)', () => {
  const { tensor, labels } = loadFashionTest(0, 10);
  assert.deepEqual(tensor.shape, [10, 1, 28, 28]);
  assert.deepEqual(labels, [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]);
  const first = tensor.data.subarray(0, 784);
  const sum = first.reduce((s, x) => s + x, 0);
  assert.ok(Math.abs(sum - 33456 / 255) < 1e-3, `pixel sum ${sum * 255}`);
  assert.equal(Math.max(...first), 1);
  assert.equal(tensor.data[14 * 28 + 12], Math.fround(98 / 255));   // image 0, row 14, column 12
  const later = loadFashionTest(3, 2);
  assert.deepEqual(later.labels, [1, 6]);
});

test('fashion inputs are recognised by type and shape', () => {
  assert.ok(isFashionInput({ type: 'float32', shape: ['batch', 1, 28, 28] }));
  assert.ok(!isFashionInput({ type: 'float32', shape: [1, 1, 28, 28] }));
  assert.ok(!isFashionInput({ type: 'float64', shape: ['N', 1, 28, 28] }));
  assert.ok(!isFashionInput({ type: 'float32', shape: ['N', 3, 28, 28] }));
});

test('randomTensor fills the shape with the requested type', () => {
  const f = randomTensor('float32', [2, 3], makeRng(1), 0, 1);
  assert.equal(f.data.length, 6);
  assert.ok(f.data.every((x) => x >= 0 && x < 1));
  const i = randomTensor('int64', [4], makeRng(1));
  assert.ok(i.data instanceof BigInt64Array);
  assert.ok(Array.from(i.data).every((x) => x === 0n || x === 1n));
  assert.throws(() => randomTensor('string', [1], makeRng(1)), /no random generator for input type string/);
});
