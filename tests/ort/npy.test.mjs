// Unit tests for npy.mjs. Run: node --test tests/ort/
// The hex strings are what numpy 1.24's np.save wrote for the arrays named beside them.

import test from 'node:test';
import assert from 'node:assert/strict';
import { parseNpy, encodeNpy, sanitizeName } from './npy.mjs';

const kNumpyFiles = {
  // np.array([1, 2], dtype='<i4')
  int32: '934e554d5059010076007b276465736372273a20273c6934272c2027666f727472616e5f6f72646572273a2046616c73652c20277368617065273a2028322c292c207d2020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020200a0100000002000000',
  // np.arange(6, dtype=np.float32).reshape(2, 3)
  float32: '934e554d5059010076007b276465736372273a20273c6634272c2027666f727472616e5f6f72646572273a2046616c73652c20277368617065273a2028322c2033292c207d202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020200a000000000000803f0000004000004040000080400000a040',
  // np.array([True, False])
  bool: '934e554d5059010076007b276465736372273a20277c6231272c2027666f727472616e5f6f72646572273a2046616c73652c20277368617065273a2028322c292c207d2020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020200a0100',
  // np.float64(2.5)
  scalar: '934e554d5059010076007b276465736372273a20273c6638272c2027666f727472616e5f6f72646572273a2046616c73652c20277368617065273a2028292c207d20202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020200a0000000000000440',
};

test('parses files numpy wrote', () => {
  const i = parseNpy(Buffer.from(kNumpyFiles.int32, 'hex'));
  assert.equal(i.dtype, 'int32');
  assert.deepEqual(i.shape, [2]);
  assert.deepEqual(Array.from(i.data), [1, 2]);
  const f = parseNpy(Buffer.from(kNumpyFiles.float32, 'hex'));
  assert.equal(f.dtype, 'float32');
  assert.deepEqual(f.shape, [2, 3]);
  assert.deepEqual(Array.from(f.data), [0, 1, 2, 3, 4, 5]);
  const b = parseNpy(Buffer.from(kNumpyFiles.bool, 'hex'));
  assert.equal(b.dtype, 'bool');
  assert.deepEqual(Array.from(b.data), [1, 0]);
  const s = parseNpy(Buffer.from(kNumpyFiles.scalar, 'hex'));
  assert.equal(s.dtype, 'float64');
  assert.deepEqual(s.shape, []);
  assert.deepEqual(Array.from(s.data), [2.5]);
});

test('round-trips every dtype with data aligned to 64 bytes', () => {
  const tensors = [
    { dtype: 'float32', shape: [2, 2], data: new Float32Array([1.5, -2, 3, 4]) },
    { dtype: 'float64', shape: [3], data: new Float64Array([1e-300, 0, -7]) },
    { dtype: 'int64', shape: [2], data: new BigInt64Array([-(2n ** 40n), 5n]) },
    { dtype: 'int32', shape: [1, 1, 1], data: new Int32Array([-3]) },
    { dtype: 'uint8', shape: [3], data: new Uint8Array([0, 128, 255]) },
    { dtype: 'int8', shape: [2], data: new Int8Array([-128, 127]) },
    { dtype: 'bool', shape: [2], data: new Uint8Array([1, 0]) },
    { dtype: 'float32', shape: [0, 4], data: new Float32Array(0) },
  ];
  for (const t of tensors) {
    const bytes = encodeNpy(t);
    const headerLen = bytes.readUInt16LE(8);
    assert.equal((10 + headerLen) % 64, 0, `${t.dtype}: data offset not 64-aligned`);
    assert.equal(bytes[10 + headerLen - 1], 0x0a, 'header must end with a newline');
    const back = parseNpy(bytes);
    assert.equal(back.dtype, t.dtype);
    assert.deepEqual(back.shape, t.shape);
    assert.deepEqual(Array.from(back.data), Array.from(t.data));
  }
});

test('writes the header numpy expects', () => {
  const bytes = encodeNpy({ dtype: 'int32', shape: [2], data: new Int32Array([1, 2]) });
  const header = bytes.toString('latin1', 10, 10 + bytes.readUInt16LE(8));
  assert.match(header, /^\{'descr': '<i4', 'fortran_order': False, 'shape': \(2,\), \} *\n$/);
});

test('rejects what it cannot read, saying why', () => {
  const be = Buffer.from(kNumpyFiles.int32, 'hex');
  be[be.indexOf('<i4')] = '>'.charCodeAt(0);
  assert.throws(() => parseNpy(be, 'be.npy'), /be\.npy: dtype '>i4' is not supported/);
  const fortran = Buffer.from(Buffer.from(kNumpyFiles.float32, 'hex').toString('latin1')
    .replace('False', 'True '), 'latin1');
  assert.throws(() => parseNpy(fortran, 'f.npy'), /f\.npy: fortran_order=True is not supported/);
  assert.throws(() => parseNpy(Buffer.from('hello world'), 'x.npy'), /x\.npy: not a \.npy file/);
  const short = Buffer.from(kNumpyFiles.float32, 'hex').subarray(0, 130);
  assert.throws(() => parseNpy(short, 's.npy'), /s\.npy: 2 data bytes, shape \[2,3\] of <f4 needs 24/);
  assert.throws(() => encodeNpy({ dtype: 'float32', shape: [3], data: new Float32Array(2) }),
    /2 elements do not fill shape \[3\]/);
});

test('sanitizes output names like quench run', () => {
  assert.equal(sanitizeName('logits'), 'logits');
  assert.equal(sanitizeName('/layer1/Conv_output_0'), '_layer1_Conv_output_0');
  assert.equal(sanitizeName('a:b c.d-e'), 'a_b_c.d-e');
});
