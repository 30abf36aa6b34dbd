/** The onnx/ layer: model and tensor decoding, every data type, zero-copy raw data, external data. */

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { HeddleError } from '../src/core/errors.js';
import { loadModelProto, externalDataReader } from '../src/onnx/load.js';
import { decodeTensorProto, type TensorProto } from '../src/onnx/proto.js';
import { tensorFromProto } from '../src/onnx/tensor.js';
import { buildModel, float32Bytes, tensorProto } from './support/build-model.js';

function protoOf(spec: Parameters<typeof tensorProto>[0]): TensorProto {
  return {
    floatData: [],
    int32Data: [],
    stringData: [],
    int64Data: [],
    doubleData: [],
    uint64Data: [],
    externalData: [],
    rawData: new Uint8Array(),
    dataLocation: 0,
    docString: '',
    ...tensorProto(spec),
  } as unknown as TensorProto;
}

test('raw_data becomes a view of the model bytes when aligned, a copy when not', () => {
  const buffer = new Uint8Array(64);
  buffer.set(float32Bytes([1, 2, 3]), 8);
  const aligned = tensorFromProto(
    protoOf({ name: 'a', type: 'float32', dims: [3], raw: buffer.subarray(8, 20) }),
  );
  assert.deepEqual([...(aligned.data as Float32Array)], [1, 2, 3]);
  assert.equal((aligned.data as Float32Array).buffer, buffer.buffer, 'aligned raw_data is not copied');
  buffer.set(float32Bytes([4, 5]), 9);
  const unaligned = tensorFromProto(
    protoOf({ name: 'u', type: 'float32', dims: [2], raw: buffer.subarray(9, 17) }),
  );
  assert.deepEqual([...(unaligned.data as Float32Array)], [4, 5]);
  assert.notEqual((unaligned.data as Float32Array).buffer, buffer.buffer);
});

test('copyRawData copies aligned raw_data out of the model bytes, never external data again', () => {
  const buffer = new Uint8Array(64);
  buffer.set(float32Bytes([1, 2]), 8);
  const copied = tensorFromProto(
    protoOf({ name: 'r', type: 'float32', dims: [2], raw: buffer.subarray(8, 16) }),
    undefined,
    { copyRawData: true },
  );
  assert.deepEqual([...(copied.data as Float32Array)], [1, 2]);
  assert.notEqual((copied.data as Float32Array).buffer, buffer.buffer);
  const external = new Uint8Array(float32Bytes([3, 4]));
  const read = () => external;
  const fromFile = tensorFromProto(
    protoOf({ name: 'e', type: 'float32', dims: [2], external: { location: 'w.bin' } }),
    read,
    { copyRawData: true },
  );
  assert.deepEqual([...(fromFile.data as Float32Array)], [3, 4]);
  assert.equal((fromFile.data as Float32Array).buffer, external.buffer, 'external bytes are used as read');
});

test('unaligned raw_data inside a Node Buffer is copied from the right place', () => {
  const file = Buffer.alloc(32);
  Buffer.from(float32Bytes([6, 7])).copy(file, 5);
  const t = tensorFromProto(protoOf({ name: 'b', type: 'float32', dims: [2], raw: file.subarray(5, 13) }));
  assert.deepEqual([...(t.data as Float32Array)], [6, 7]);
});

test('typed fields decode for every storage kind', () => {
  const cases: [Parameters<typeof tensorProto>[0], unknown[]][] = [
    [{ name: 'f', type: 'float32', dims: [2], values: [1.5, -2] }, [1.5, -2]],
    [{ name: 'd', type: 'float64', dims: [1], values: [0.1] }, [0.1]],
    [{ name: 'i', type: 'int64', dims: [2], values: [-3, 4] }, [-3n, 4n]],
    [{ name: 'b', type: 'bool', dims: [2], values: [1, 0] }, [1, 0]],
    [{ name: 'h', type: 'float16', dims: [1], values: [0x3c00] }, [0x3c00]],
    [{ name: 'u8', type: 'uint8', dims: [2], values: [255, 7] }, [255, 7]],
    [{ name: 'i4', type: 'int4', dims: [3], values: [0xf1, 0x07] }, [1, -1, 7]],
  ];
  for (const [spec, expected] of cases) {
    const t = tensorFromProto(protoOf(spec));
    assert.equal(t.type, spec.type);
    assert.deepEqual([...(t.data as ArrayLike<unknown> & Iterable<unknown>)], expected, spec.name);
  }
});

test('raw_data of sub-byte and bigint types', () => {
  const int4 = tensorFromProto(
    protoOf({ name: 'p', type: 'uint4', dims: [3], raw: new Uint8Array([0x21, 0x03]) }),
  );
  assert.deepEqual([...(int4.data as Uint8Array)], [1, 2, 3]);
  const big = new BigInt64Array([-(2n ** 62n), 5n]);
  const i64 = tensorFromProto(
    protoOf({ name: 'l', type: 'int64', dims: [2], raw: new Uint8Array(big.buffer) }),
  );
  assert.deepEqual([...(i64.data as BigInt64Array)], [-(2n ** 62n), 5n]);
});

test('a tensor whose data does not match its dims is refused', () => {
  assert.throws(
    () => tensorFromProto(protoOf({ name: 'short', type: 'float32', dims: [4], raw: float32Bytes([1, 2]) })),
    (e: unknown) => e instanceof HeddleError && /short/.test(e.message) && /16 bytes/.test(e.message),
  );
});

test('a negative dimension is refused with the tensor named', () => {
  const bytes = buildModel({
    nodes: [{ op: 'Identity', inputs: ['w'], outputs: ['y'] }],
    inputs: [],
    outputs: [{ name: 'y', type: 'float32' }],
    initializers: [{ name: 'w', type: 'float32', dims: [-2], values: [] }],
  });
  const proto = loadModelProto(bytes).proto;
  assert.throws(() => tensorFromProto(proto.graph!.initializer[0]!), /invalid dimension -2/);
});

test('decodeTensorProto reads a serialized TensorProto', () => {
  const bytes = fs.readFileSync(
    new URL('../../../shared/onnx-tests/node/test_abs/test_data_set_0/input_0.pb', import.meta.url),
  );
  const t = tensorFromProto(decodeTensorProto(bytes));
  assert.equal(t.type, 'float32');
  assert.deepEqual(t.dims, [3, 4, 5]);
});

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'heddle-ext-'));
}

test('external data is read from beside the model with offset and length', () => {
  const dir = tempDir();
  fs.writeFileSync(
    path.join(dir, 'weights.bin'),
    Buffer.concat([Buffer.alloc(4), Buffer.from(float32Bytes([7, 8]))]),
  );
  const read = externalDataReader(dir, 'm.onnx');
  assert.deepEqual([...new Float32Array(read('weights.bin', 4, 8).buffer)], [7, 8]);
});

test('external data outside the model folder is refused', () => {
  const dir = tempDir();
  const outside = tempDir();
  fs.writeFileSync(path.join(outside, 'secret.bin'), Buffer.alloc(16));
  fs.symlinkSync(path.join(outside, 'secret.bin'), path.join(dir, 'link.bin'));
  const read = externalDataReader(dir, 'm.onnx');
  assert.throws(() => read(path.join(outside, 'secret.bin'), 0, 4), /absolute path/);
  assert.throws(() => read('../secret.bin', 0, 4), /'\.\.'/);
  assert.throws(() => read('link.bin', 0, 4), /outside the model's folder/);
  assert.throws(() => read('missing.bin', 0, 4), /does not exist/);
});

test('an external data range past the end of its file is refused', () => {
  const dir = tempDir();
  fs.writeFileSync(path.join(dir, 'w.bin'), Buffer.alloc(8));
  const read = externalDataReader(dir, 'm.onnx');
  assert.throws(
    () => read('w.bin', 4, 8),
    (e: unknown) =>
      e instanceof HeddleError &&
      /past the end of the file \(8 bytes\)/.test(e.message) &&
      /m\.onnx/.test(e.message),
  );
  assert.throws(() => read('w.bin', 12, undefined), /past the end/);
});
