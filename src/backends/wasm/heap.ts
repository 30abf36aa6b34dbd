/**
 * The `wasm` backend's memory: one `WebAssembly.Memory` (shared when the host has threads) that
 * every thread's kernels address, holding the packed weights, the planned arenas and the kernels'
 * scratch. Allocation is first fit over a free list with neighbours merged on release, in
 * 64-byte-aligned blocks (a cache line, and enough for any SIMD load); the memory grows by whole
 * pages when no free block fits.
 *
 * Growing a shared memory does not detach its old `SharedArrayBuffer`s, but it hands out a new
 * buffer object for the same bytes; the heap remembers every buffer object it has handed out, so
 * `pointerOf` can tell a view of this memory (usable by a kernel as an address) from any other
 * host memory (which a kernel must first copy in). Growing a non-shared memory (a host without
 * threads) detaches every view of it, so that heap is made once at a fixed size and never grows.
 */

import { storageView, type DataType } from '../../core/dtype.js';
import type { TensorData } from '../../core/tensor.js';
import { webAssembly, type WasmMemory } from '../../core/webassembly.js';

const PAGE_BYTES = 65536;
export const HEAP_ALIGNMENT = 64;
/** 4 GiB: every address fits an unsigned 32-bit pointer. */
const MAXIMUM_PAGES = 65536;
/** Sizes tried for a heap that cannot grow (a host without threads), largest first. */
const FIXED_HEAP_BYTES = [1 << 30, 1 << 29, 1 << 28];
/** Address 0 stays unused, so a pointer of 0 is never a real block. */
const FIRST_ADDRESS = HEAP_ALIGNMENT;

interface FreeBlock {
  offset: number;
  bytes: number;
}

export class HeapError extends Error {
  override readonly name = 'HeapError';
}

export class WasmHeap {
  readonly memory: WasmMemory;
  readonly shared: boolean;
  private readonly free: FreeBlock[] = [];
  private readonly used = new Map<number, number>();
  private readonly buffers = new WeakSet<ArrayBufferLike>();
  private end = FIRST_ADDRESS;
  private allocatedBytes = 0;

  constructor(options: { shared: boolean; initialBytes?: number }) {
    this.shared = options.shared;
    this.memory = options.shared ? sharedMemory(options.initialBytes) : fixedMemory();
    this.buffers.add(this.memory.buffer);
  }

  /** The memory's current buffer (a new object after each growth). */
  get buffer(): ArrayBufferLike {
    return this.memory.buffer;
  }

  /** Bytes in blocks handed out and not yet released. */
  get liveBytes(): number {
    return this.allocatedBytes;
  }

  /** The memory's size in bytes. */
  get capacity(): number {
    return this.memory.buffer.byteLength;
  }

  /** A block of at least `bytes` bytes, 64-byte aligned; its contents are whatever was there. */
  allocate(bytes: number): number {
    const size = alignUp(Math.max(bytes, 1));
    const index = this.free.findIndex((block) => block.bytes >= size);
    let offset: number;
    if (index >= 0) {
      const block = this.free[index]!;
      offset = block.offset;
      if (block.bytes === size) this.free.splice(index, 1);
      else Object.assign(block, { offset: block.offset + size, bytes: block.bytes - size });
    } else {
      offset = this.extend(size);
    }
    this.used.set(offset, size);
    this.allocatedBytes += size;
    return offset;
  }

  /** Returns a block to the free list, merging it with free neighbours. */
  release(offset: number): void {
    const size = this.used.get(offset);
    if (size === undefined) throw new HeapError(`address ${offset} is not an allocated block`);
    this.used.delete(offset);
    this.allocatedBytes -= size;
    let at = this.free.findIndex((block) => block.offset > offset);
    if (at < 0) at = this.free.length;
    this.free.splice(at, 0, { offset, bytes: size });
    this.mergeAround(at);
  }

  /** A typed-array view of `length` elements of `type` at `offset`. */
  view(type: DataType, offset: number, length: number): TensorData {
    return storageView(type, this.memory.buffer, offset, length);
  }

  /** A byte view of a block. */
  bytes(offset: number, length: number): Uint8Array {
    return new Uint8Array(this.memory.buffer, offset, length);
  }

  /** A new block holding a copy of `data`. */
  copyIn(data: Exclude<TensorData, string[]>): number {
    const offset = this.allocate(data.byteLength);
    this.bytes(offset, data.byteLength).set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    return offset;
  }

  /** The address of `data` when it is a view of this memory; undefined for any other memory. */
  pointerOf(data: TensorData): number | undefined {
    if (Array.isArray(data)) return undefined;
    const view = data as Uint8Array;
    return this.buffers.has(view.buffer) ? view.byteOffset : undefined;
  }

  private extend(size: number): number {
    const last = this.free.at(-1);
    // A free block at the very end grows into the new pages instead of being stranded.
    const start = last && last.offset + last.bytes === this.end ? last.offset : this.end;
    const needed = start + size - this.capacity;
    if (needed > 0) this.grow(needed);
    if (start !== this.end) this.free.pop();
    this.end = start + size;
    return start;
  }

  private grow(bytes: number): void {
    if (!this.shared) {
      throw new HeapError(
        `the wasm heap needs ${bytes} bytes more than its fixed ${this.capacity >> 20} MiB: without threads ` +
          `its memory is not shared, and growing it would detach every view of it the plan holds`,
      );
    }
    const pages = Math.max(Math.ceil(bytes / PAGE_BYTES), Math.ceil(this.capacity / PAGE_BYTES / 4));
    const current = this.capacity / PAGE_BYTES;
    const target = Math.min(current + pages, MAXIMUM_PAGES);
    if (target * PAGE_BYTES - this.capacity < bytes) {
      throw new HeapError(
        `the wasm heap cannot grow by ${bytes} bytes beyond ${this.capacity} (its 4 GiB limit)`,
      );
    }
    this.memory.grow(target - current);
    this.buffers.add(this.memory.buffer);
  }

  private mergeAround(at: number): void {
    const block = this.free[at]!;
    const next = this.free[at + 1];
    if (next && block.offset + block.bytes === next.offset) {
      block.bytes += next.bytes;
      this.free.splice(at + 1, 1);
    }
    const previous = this.free[at - 1];
    if (previous && previous.offset + previous.bytes === block.offset) {
      previous.bytes += block.bytes;
      this.free.splice(at, 1);
    }
  }
}

function sharedMemory(initialBytes = 16 * PAGE_BYTES): WasmMemory {
  const initial = Math.max(1, Math.ceil(initialBytes / PAGE_BYTES));
  return new webAssembly.Memory({ initial, maximum: MAXIMUM_PAGES, shared: true });
}

/**
 * A non-shared memory of fixed size, as large as the host grants of 1 GiB, 512 MiB or 256 MiB:
 * untouched pages cost address space, not memory.
 */
function fixedMemory(): WasmMemory {
  for (const bytes of FIXED_HEAP_BYTES) {
    const pages = bytes / PAGE_BYTES;
    try {
      return new webAssembly.Memory({ initial: pages, maximum: pages, shared: false });
    } catch (error) {
      if (bytes === FIXED_HEAP_BYTES.at(-1)) throw error;
    }
  }
  throw new HeapError('no fixed heap size was tried');
}

function alignUp(bytes: number): number {
  return Math.ceil(bytes / HEAP_ALIGNMENT) * HEAP_ALIGNMENT;
}
