/**
 * Does a hand-written protobuf walker load large models faster than protobufjs? Builds two 100 MB
 * models (a few large weights; many small ones), then times, on the same bytes:
 * - protobufjs decoding (what Heddle uses) followed by Heddle's tensor decoding;
 * - a minimal hand-written walker that finds every initializer's raw_data and makes the same
 *   typed-array views, the least work any hand-written decoder could do.
 * Run: npm run build && node dist/bench/decode-100mb.js
 */

import { decodeModelProto, encodeModelProto, type ModelProto } from '../src/onnx/proto.js';
import { tensorFromProto } from '../src/onnx/tensor.js';

const MB = 1 << 20;

function buildModel(tensorCount: number, totalBytes: number): Uint8Array {
  const bytesEach = Math.floor(totalBytes / tensorCount / 4) * 4;
  const initializer = Array.from({ length: tensorCount }, (_, i) => ({
    name: `w${i}`,
    dataType: 1,
    dims: [bytesEach / 4],
    rawData: new Uint8Array(bytesEach).fill(i & 0xff),
  }));
  const node = initializer.map((t, i) => ({ opType: 'Identity', input: [t.name], output: [`y${i}`] }));
  const output = initializer.map((_, i) => ({ name: `y${i}`, type: { tensorType: { elemType: 1 } } }));
  return encodeModelProto({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    graph: { name: 'big', node, initializer, output },
  } as unknown as ModelProto);
}

function withProtobufjs(bytes: Uint8Array): number {
  const proto = decodeModelProto(bytes);
  let elements = 0;
  for (const t of proto.graph!.initializer) elements += tensorFromProto(t).size;
  return elements;
}

/** Walks the wire format by hand: ModelProto.graph (7) → GraphProto.initializer (5) → raw_data (9). */
function withHandWalker(bytes: Uint8Array): number {
  let elements = 0;
  const varint = (pos: { at: number }) => {
    let result = 0;
    let shift = 0;
    for (;;) {
      const b = bytes[pos.at++]!;
      result += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return result;
      shift += 7;
    }
  };
  const fields = (start: number, end: number, visit: (field: number, from: number, to: number) => void) => {
    const pos = { at: start };
    while (pos.at < end) {
      const key = varint(pos);
      const wire = key & 7;
      if (wire === 0) varint(pos);
      else if (wire === 1) pos.at += 8;
      else if (wire === 5) pos.at += 4;
      else {
        const length = varint(pos);
        visit(key >>> 3, pos.at, pos.at + length);
        pos.at += length;
      }
    }
  };
  fields(0, bytes.length, (f, a, b) => {
    if (f !== 7) return;
    fields(a, b, (g, c, d) => {
      if (g !== 5) return;
      fields(c, d, (h, e, z) => {
        if (h !== 9) return;
        const raw = bytes.subarray(e, z);
        const view =
          raw.byteOffset % 4 === 0
            ? new Float32Array(raw.buffer, raw.byteOffset, raw.length / 4)
            : new Float32Array(new Uint8Array(raw).buffer);
        elements += view.length;
      });
    });
  });
  return elements;
}

function median(samples: number[]): number {
  const s = [...samples].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function time(fn: () => number, runs = 7): { ms: number; elements: number } {
  let elements = 0;
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    elements = fn();
    samples.push(performance.now() - start);
  }
  return { ms: median(samples), elements };
}

for (const [label, count] of [
  ['4 weights of 25 MB', 4],
  ['20,000 weights of 5 KB', 20_000],
] as const) {
  const bytes = buildModel(count, 100 * MB);
  const lib = time(() => withProtobufjs(bytes));
  const hand = time(() => withHandWalker(bytes));
  if (lib.elements !== hand.elements) throw new Error('the two decoders disagree');
  console.log(
    `${label} (${(bytes.length / MB).toFixed(0)} MB): protobufjs + tensors ${lib.ms.toFixed(1)} ms, ` +
      `hand-written walker ${hand.ms.toFixed(1)} ms`,
  );
}
