/**
 * The wasm backend's heap: 64-byte aligned first-fit blocks that never overlap, freed blocks reused
 * and merged with free neighbours on either side, growth by whole pages that keeps every byte and
 * (for the shared memory the pool needs) every view handed out before it, a trailing free block
 * grown into rather than stranded, typed views of each storage kind, and `pointerOf` telling views
 * of the heap from any other memory, across growth. Requests beyond the 4 GiB address space fail
 * with a HeapError and leave the heap usable.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HEAP_ALIGNMENT, HeapError, WasmHeap } from '../../src/backends/wasm/heap.js';

const PAGE = 65536;

function sharedHeap(initialBytes = PAGE): WasmHeap {
  return new WasmHeap({ shared: true, initialBytes });
}

test('heap: blocks are aligned, nonzero and do not overlap', () => {
  const heap = sharedHeap();
  const sizes = [1, 0, 63, 64, 65, 200, 4096, 7];
  const blocks = sizes.map((bytes) => ({ address: heap.allocate(bytes), bytes: Math.max(bytes, 1) }));
  for (const { address } of blocks) {
    assert.ok(address > 0, 'address 0 is never handed out');
    assert.equal(address % HEAP_ALIGNMENT, 0);
  }
  const sorted = [...blocks].sort((a, b) => a.address - b.address);
  for (let i = 1; i < sorted.length; i++) {
    assert.ok(sorted[i - 1]!.address + sorted[i - 1]!.bytes <= sorted[i]!.address, 'blocks overlap');
  }
  const rounded = sizes.reduce((sum, bytes) => sum + Math.ceil(Math.max(bytes, 1) / 64) * 64, 0);
  assert.equal(heap.liveBytes, rounded);
});

test('heap: a released block is reused first fit, and live bytes follow', () => {
  const heap = sharedHeap();
  const a = heap.allocate(256);
  const b = heap.allocate(128);
  heap.release(a);
  assert.equal(heap.liveBytes, 128);
  assert.equal(heap.allocate(100), a, 'the first free block that fits is reused');
  assert.equal(heap.allocate(64), a + 128, 'the rest of the split block comes next');
  heap.release(b);
  assert.equal(heap.allocate(128), a + 192, 'what was left of a, merged with b, comes first');
});

test('heap: a released block merges with the free block after it and before it', () => {
  const heap = sharedHeap();
  // The last block keeps the others away from the heap's end, where growth would take them.
  const [a, b, c, last] = [128, 192, 64, 64].map((bytes) => heap.allocate(bytes));
  heap.release(b);
  heap.release(a);
  assert.equal(heap.allocate(320), a, 'a then b merged into one block of 320 bytes');
  heap.release(a);
  heap.release(c);
  assert.equal(heap.allocate(384), a, 'c merged with the free block a+b that ends where it starts');
  heap.release(a);
  const [x, y, z] = [64, 64, 64].map((bytes) => heap.allocate(bytes));
  heap.release(x);
  heap.release(z);
  heap.release(y);
  assert.equal(heap.allocate(384), x, 'a middle block merged with free neighbours on both sides');
  assert.ok(last! >= x + 384, 'the last block was never free');
});

test('heap: releasing an unknown or already released address fails', () => {
  const heap = sharedHeap();
  const a = heap.allocate(64);
  assert.throws(() => heap.release(a + 64), HeapError);
  heap.release(a);
  assert.throws(() => heap.release(a), /not an allocated block/);
});

test('heap: growth by whole pages keeps every byte and every view (shared memory)', () => {
  const heap = sharedHeap(PAGE);
  const before = heap.capacity;
  const small = heap.allocate(16);
  const view = heap.view('float32', small, 4) as Float32Array;
  view.set([1.5, -2, 3, 4]);
  const big = heap.allocate(3 * PAGE + 100);
  assert.ok(heap.capacity > before);
  assert.equal(heap.capacity % PAGE, 0);
  assert.ok(big + 3 * PAGE + 100 <= heap.capacity);
  assert.deepEqual([...view], [1.5, -2, 3, 4], 'a view from before the growth still reads the heap');
  view[0] = 7;
  assert.equal((heap.view('float32', small, 1) as Float32Array)[0], 7, 'and writes it');
  assert.equal(heap.pointerOf(view), small, 'pointerOf knows a view of the old buffer');
  const after = heap.view('float32', big, 8);
  assert.equal(heap.pointerOf(after), big);
});

test('heap: a free block at the end grows into new pages instead of being stranded', () => {
  const heap = sharedHeap(PAGE);
  heap.allocate(1024);
  const tail = heap.allocate(PAGE / 2);
  heap.release(tail);
  const grown = heap.allocate(PAGE);
  assert.equal(grown, tail, 'the request starts where the trailing free block did');
  assert.ok(heap.capacity >= tail + PAGE);
});

test('heap: typed views of every storage kind, and copyIn', () => {
  const heap = sharedHeap();
  const address = heap.allocate(64);
  assert.ok(heap.view('float32', address, 4) instanceof Float32Array);
  assert.ok(heap.view('int64', address, 2) instanceof BigInt64Array);
  assert.ok(heap.view('float16', address, 8) instanceof Uint16Array);
  assert.ok(heap.view('bool', address, 8) instanceof Uint8Array);
  assert.equal(heap.view('complex64', address, 2).length, 4, 'complex values take two slots');
  const copied = heap.copyIn(new Int32Array([5, -6, 7]));
  assert.deepEqual([...(heap.view('int32', copied, 3) as Int32Array)], [5, -6, 7]);
  assert.equal(heap.bytes(address, 4).length, 4);
});

test('heap: pointerOf is undefined for memory that is not the heap', () => {
  const heap = sharedHeap();
  const other = sharedHeap();
  const address = heap.allocate(32);
  assert.equal(heap.pointerOf(new Float32Array(8)), undefined);
  assert.equal(heap.pointerOf(new Float32Array(new SharedArrayBuffer(32))), undefined);
  assert.equal(heap.pointerOf(other.view('float32', other.allocate(32), 8)), undefined);
  assert.equal(heap.pointerOf(['a', 'b']), undefined);
  const view = heap.view('float32', address, 8) as Float32Array;
  assert.equal(heap.pointerOf(view.subarray(3)), address + 12, 'a subarray is addressed where it starts');
});

test('heap: a request beyond the 4 GiB address space fails and leaves the heap usable', () => {
  const heap = sharedHeap();
  const capacity = heap.capacity;
  assert.throws(() => heap.allocate(5 * 2 ** 30), HeapError);
  assert.equal(heap.capacity, capacity);
  const address = heap.allocate(64);
  assert.ok(address > 0);
});

test('heap: a non-shared heap has a fixed size: it refuses to grow, and views of it stay attached', () => {
  const heap = new WasmHeap({ shared: false });
  assert.ok(heap.buffer instanceof ArrayBuffer);
  const address = heap.allocate(16);
  const view = heap.view('float32', address, 4) as Float32Array;
  view.set([1, 2, 3, 4]);
  assert.throws(() => heap.allocate(heap.capacity), /fixed .* MiB: without threads/);
  assert.deepEqual([...view], [1, 2, 3, 4]);
  assert.equal(heap.pointerOf(view), address);
});
