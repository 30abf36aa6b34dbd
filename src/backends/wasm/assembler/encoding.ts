/**
 * The binary format's primitive encodings: bytes into a growable buffer, LEB128 integers (32-bit
 * through numbers, 64-bit through bigints so every i64 constant is exact), little-endian floats,
 * UTF-8 names, and length-prefixed vectors and sections.
 */

import { WasmAssemblyError } from './types.js';

export class ByteWriter {
  private buffer = new Uint8Array(256);
  private length = 0;

  get size(): number {
    return this.length;
  }

  byte(value: number): this {
    this.reserve(1);
    this.buffer[this.length++] = value & 0xff;
    return this;
  }

  bytes(values: ArrayLike<number>): this {
    this.reserve(values.length);
    this.buffer.set(values, this.length);
    this.length += values.length;
    return this;
  }

  u32(value: number): this {
    if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
      throw new WasmAssemblyError(`${value} is not an unsigned 32-bit integer`);
    }
    let rest = value;
    do {
      const low = rest % 128;
      rest = Math.floor(rest / 128);
      this.byte(rest === 0 ? low : low | 0x80);
    } while (rest !== 0);
    return this;
  }

  /** A signed 32-bit LEB128; values up to 2^32 - 1 are taken as their two's-complement bits. */
  s32(value: number): this {
    if (!Number.isInteger(value) || value < -0x80000000 || value > 0xffffffff) {
      throw new WasmAssemblyError(`${value} is not a 32-bit integer`);
    }
    return this.signed(BigInt(value | 0));
  }

  /** A signed 64-bit LEB128; values up to 2^64 - 1 are taken as their two's-complement bits. */
  s64(value: bigint): this {
    if (value < -(1n << 63n) || value >= 1n << 64n) {
      throw new WasmAssemblyError(`${value} is not a 64-bit integer`);
    }
    return this.signed(BigInt.asIntN(64, value));
  }

  f32(value: number): this {
    const view = new DataView(new ArrayBuffer(4));
    view.setFloat32(0, value, true);
    return this.bytes(new Uint8Array(view.buffer));
  }

  f64(value: number): this {
    const view = new DataView(new ArrayBuffer(8));
    view.setFloat64(0, value, true);
    return this.bytes(new Uint8Array(view.buffer));
  }

  name(text: string): this {
    const utf8 = new TextEncoder().encode(text);
    return this.u32(utf8.length).bytes(utf8);
  }

  /** A vector: its element count, then each element written by `write`. */
  vector<T>(items: readonly T[], write: (item: T, writer: this) => void): this {
    this.u32(items.length);
    for (const item of items) write(item, this);
    return this;
  }

  /** A length-prefixed payload (sections, function bodies, subsections). */
  sized(write: (inner: ByteWriter) => void): this {
    const inner = new ByteWriter();
    write(inner);
    return this.u32(inner.size).bytes(inner.finish());
  }

  finish(): Uint8Array {
    return this.buffer.slice(0, this.length);
  }

  private signed(value: bigint): this {
    let rest = value;
    for (;;) {
      const low = Number(rest & 0x7fn);
      rest >>= 7n;
      const done = (rest === 0n && (low & 0x40) === 0) || (rest === -1n && (low & 0x40) !== 0);
      this.byte(done ? low : low | 0x80);
      if (done) return this;
    }
  }

  private reserve(extra: number): void {
    if (this.length + extra <= this.buffer.length) return;
    const grown = new Uint8Array(Math.max(this.buffer.length * 2, this.length + extra));
    grown.set(this.buffer.subarray(0, this.length));
    this.buffer = grown;
  }
}
