// Reads and writes NumPy .npy files (format versions 1.0, 2.0, 3.0; little-endian, C order).
//
// A tensor here is { dtype, shape, data } where dtype is an onnxruntime type name ("float32",
// "int64", "bool", ...), shape an array of numbers and data the matching typed array
// (BigInt64Array for int64, Uint8Array for bool). That is exactly what onnxruntime-node's
// Tensor constructor takes, so `new ort.Tensor(t.dtype, t.data, t.shape)` works.
//
//   import { readNpy, writeNpy } from './npy.mjs';
//   const t = readNpy('x.npy');            // { dtype: 'float32', shape: [16, 1, 28, 28], data }
//   writeNpy('y.npy', { dtype: 'int64', shape: [2], data: new BigInt64Array([1n, 2n]) });

import fs from 'node:fs';

const kMagic = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // "\x93NUMPY"

// NumPy descr (without byte-order char) -> [ort dtype, typed array]
const kDescrs = {
  f2: ['float16', Uint16Array],
  f4: ['float32', Float32Array],
  f8: ['float64', Float64Array],
  i1: ['int8', Int8Array],
  i2: ['int16', Int16Array],
  i4: ['int32', Int32Array],
  i8: ['int64', BigInt64Array],
  u1: ['uint8', Uint8Array],
  u2: ['uint16', Uint16Array],
  u4: ['uint32', Uint32Array],
  u8: ['uint64', BigUint64Array],
  b1: ['bool', Uint8Array],
};
const kDtypeToDescr = Object.fromEntries(
  Object.entries(kDescrs).map(([d, [name]]) => [name, (d[1] === '1' ? '|' : '<') + d]));

export function typedArrayFor(dtype) {
  const descr = kDtypeToDescr[dtype];
  if (!descr) throw new Error(`npy: dtype "${dtype}" is not supported`);
  return kDescrs[descr.slice(1)][1];
}

export function readNpy(path) {
  const buf = fs.readFileSync(path);
  return parseNpy(buf, path);
}

export function parseNpy(buf, where = '<buffer>') {
  if (buf.length < 10 || !buf.subarray(0, 6).equals(kMagic)) {
    throw new Error(`${where}: not a .npy file (magic bytes missing)`);
  }
  const major = buf[6];
  let headerLen, headerStart;
  if (major === 1) {
    headerLen = buf.readUInt16LE(8);
    headerStart = 10;
  } else if (major === 2 || major === 3) {
    headerLen = buf.readUInt32LE(8);
    headerStart = 12;
  } else {
    throw new Error(`${where}: .npy format version ${major} is not supported (1, 2, 3 are)`);
  }
  const header = buf.toString(major === 3 ? 'utf8' : 'latin1', headerStart, headerStart + headerLen);
  const descrMatch = header.match(/'descr'\s*:\s*'([^']*)'/);
  const fortranMatch = header.match(/'fortran_order'\s*:\s*(True|False)/);
  const shapeMatch = header.match(/'shape'\s*:\s*\(([^)]*)\)/);
  if (!descrMatch || !fortranMatch || !shapeMatch) {
    throw new Error(`${where}: malformed .npy header ${JSON.stringify(header)}`);
  }
  if (fortranMatch[1] === 'True') {
    throw new Error(`${where}: fortran_order=True is not supported (save with C order)`);
  }
  const descr = descrMatch[1];
  const order = descr[0];
  const entry = kDescrs[descr.slice(1)];
  if (!entry || !['<', '|', '='].includes(order) || (order === '|' && descr[2] !== '1')) {
    throw new Error(`${where}: dtype '${descr}' is not supported ` +
      `(little-endian ${Object.keys(kDescrs).join(', ')} are)`);
  }
  const shape = shapeMatch[1].split(',').map((s) => s.trim()).filter((s) => s.length > 0)
    .map((s) => Number.parseInt(s, 10));
  if (shape.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new Error(`${where}: bad shape (${shapeMatch[1]})`);
  }
  const [dtype, Typed] = entry;
  const count = shape.reduce((a, b) => a * b, 1);
  const dataStart = headerStart + headerLen;
  const nbytes = count * Typed.BYTES_PER_ELEMENT;
  if (buf.length - dataStart < nbytes) {
    throw new Error(`${where}: ${buf.length - dataStart} data bytes, shape [${shape}] ` +
      `of ${descr} needs ${nbytes}`);
  }
  // Copy: the data offset need not be aligned for the typed array.
  const bytes = new Uint8Array(nbytes);
  bytes.set(buf.subarray(dataStart, dataStart + nbytes));
  return { dtype, shape, data: new Typed(bytes.buffer) };
}

export function encodeNpy(tensor) {
  const descr = kDtypeToDescr[tensor.dtype];
  if (!descr) throw new Error(`npy: dtype "${tensor.dtype}" is not supported`);
  const shape = tensor.shape.map(Number);
  const count = shape.reduce((a, b) => a * b, 1);
  if (tensor.data.length !== count) {
    throw new Error(`npy: ${tensor.data.length} elements do not fill shape [${shape}]`);
  }
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  // Pad so the data starts on a 64-byte boundary, header ends with '\n' (NEP 1 / numpy's writer).
  let prefix = 10;
  let total = prefix + header.length + 1;
  if (total + ((64 - (total % 64)) % 64) - prefix > 0xffff) prefix = 12;
  total = prefix + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const head = Buffer.alloc(prefix);
  kMagic.copy(head, 0);
  head[6] = prefix === 10 ? 1 : 2;
  head[7] = 0;
  if (prefix === 10) head.writeUInt16LE(header.length, 8);
  else head.writeUInt32LE(header.length, 8);
  const data = tensor.data;
  const body = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.concat([head, Buffer.from(header, 'latin1'), body]);
}

export function writeNpy(path, tensor) {
  fs.writeFileSync(path, encodeNpy(tensor));
}

// Output names become file names: every char outside [A-Za-z0-9_.-] turns into '_'
// (the same rule as `quench run --output-dir`).
export function sanitizeName(name) {
  return name.replace(/[^A-Za-z0-9_.-]/g, '_');
}
