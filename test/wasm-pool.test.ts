/**
 * The wasm backend's worker pool: tiled ranges of any rank cover every element exactly once
 * (sizes not divisible by the tile, fewer tiles than threads, empty ranges); the calling thread
 * runs tiles too, after its chore when it has one, and hears of every finished tile once when it
 * asks to; an idle thread steals from a busy one; an idle
 * pool parks instead of spinning; and a worker killed by a trapping kernel fails its job with an
 * error naming it, after which the pool has replaced the worker and runs the next job on every
 * thread. Kernels are built with the
 * project's assembler and record what ran where in the shared memory.
 */

import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ModuleBuilder, type FunctionBuilder, type Local } from '../src/backends/wasm/assembler/index.js';
import { webAssembly, type WasmMemory } from '../src/core/webassembly.js';
import { PoolError, WorkerPool, type PoolModule } from '../src/backends/wasm/pool/index.js';
import { describeMachine } from '../src/host/machine.js';
import { forRange } from './support/wasm-checks.js';

const PAGES = 64;
/** Byte addresses of three i32 arrays in the shared memory: hits per element, values, owner thread. */
const HITS = 0;
const VALUES = 1 << 20;
const OWNERS = 2 << 20;

/** Pushes the address of element `index` of the i32 array at `base`. */
function element(f: FunctionBuilder, base: Local, index: Local): FunctionBuilder {
  return f.get(base).get(index).i32Const(2).op('i32.shl').op('i32.add');
}

function testKernels(): Uint8Array {
  const module = new ModuleBuilder().importMemory('env', 'memory', {
    initial: PAGES,
    maximum: PAGES,
    shared: true,
  });
  const i32 = (name: string) => [name, 'i32'] as const;

  // Counts each visit, writes i*2 and the thread that ran it.
  const mark1 = module.function('mark1', {
    params: ['thread', 'begin', 'end', 'hits', 'values', 'owners'].map(i32),
    export: true,
  });
  {
    const [thread, begin, end, hits, values, owners] = mark1.params;
    const i = mark1.local('i32', 'i');
    forRange(mark1, i, begin, end, () => {
      element(mark1, hits, i).i32Const(1).mem('i32.atomic.rmw.add').drop();
      element(mark1, values, i).get(i).i32Const(2).op('i32.mul').mem('i32.store');
      element(mark1, owners, i).get(thread).mem('i32.store');
    });
  }

  // The same over a 3-D box of a [d0, d1, d2] array, row-major.
  const mark3 = module.function('mark3', {
    params: ['thread', 'b0', 'e0', 'b1', 'e1', 'b2', 'e2', 'd1', 'd2', 'hits', 'owners'].map(i32),
    export: true,
  });
  {
    const [thread, b0, e0, b1, e1, b2, e2, d1, d2, hits, owners] = mark3.params;
    const [i, j, k, flat] = ['i', 'j', 'k', 'flat'].map((name) => mark3.local('i32', name));
    forRange(mark3, i, b0, e0, () =>
      forRange(mark3, j, b1, e1, () =>
        forRange(mark3, k, b2, e2, () => {
          mark3
            .get(i)
            .get(d1)
            .op('i32.mul')
            .get(j)
            .op('i32.add')
            .get(d2)
            .op('i32.mul')
            .get(k)
            .op('i32.add')
            .set(flat);
          element(mark3, hits, flat).i32Const(1).mem('i32.atomic.rmw.add').drop();
          element(mark3, owners, flat).get(thread).mem('i32.store');
        }),
      ),
    );
  }

  // Records the owner; elements below `heavyBelow` also spin `work` iterations.
  const unbalanced = module.function('unbalanced', {
    params: ['thread', 'begin', 'end', 'owners', 'heavyBelow', 'work'].map(i32),
    export: true,
  });
  {
    const [thread, begin, end, owners, heavyBelow, work] = unbalanced.params;
    const [i, left] = ['i', 'left'].map((name) => unbalanced.local('i32', name));
    forRange(unbalanced, i, begin, end, () => {
      element(unbalanced, owners, i).get(thread).mem('i32.store');
      unbalanced.get(i).get(heavyBelow).op('i32.lt_s');
      unbalanced.if(null, () => {
        unbalanced.get(work).set(left);
        unbalanced.loop(null, (next) => {
          unbalanced.get(left).i32Const(1).op('i32.sub').tee(left).i32Const(0).op('i32.gt_s').brIf(next);
        });
      });
    });
  }

  // Traps on the workers when `onCaller` is 0, on the calling thread (0) when it is 1; the threads
  // that do not trap spin `work` iterations per tile, so that the trapping ones get tiles too.
  const trapping = module.function('trapping', {
    params: ['thread', 'begin', 'end', 'onCaller', 'work'].map(i32),
    export: true,
  });
  {
    const [thread, , , onCaller, work] = trapping.params;
    trapping.get(thread).i32Const(0).op('i32.eq').get(onCaller).op('i32.eq');
    trapping.if(null, () => trapping.unreachable());
    trapping.loop(null, (next) => {
      trapping.get(work).i32Const(1).op('i32.sub').tee(work).i32Const(0).op('i32.gt_s').brIf(next);
    });
  }

  const bytes = module.encode();
  assert.ok(webAssembly.validate(bytes), module.toText());
  return bytes;
}

const memory: WasmMemory = new webAssembly.Memory({ initial: PAGES, maximum: PAGES, shared: true });
const words = new Int32Array(memory.buffer);
const array = (base: number, length: number) => words.subarray(base / 4, base / 4 + length);
const bytes = testKernels();

/** Two threads, one per core of the target machine, for the tests that depend on timing. */
let pool: WorkerPool;
let kernels: PoolModule;
/** More threads than cores, for coverage: more runs to split and steal from. */
let widePool: WorkerPool;
let wideKernels: PoolModule;

before(async () => {
  pool = await WorkerPool.start({ memory, threads: 2 });
  kernels = await pool.load(bytes);
  widePool = await WorkerPool.start({ memory, threads: 5 });
  wideKernels = await widePool.load(bytes);
});

after(async () => {
  await pool.close();
  await widePool.close();
});

function clear(): void {
  words.fill(0, 0, (3 << 20) / 4);
}

/** A job that fails, as it must come: a rejected promise, never a throw from the call itself. */
function rejected(job: void | Promise<void>): Promise<void> {
  assert.ok(job instanceof Promise, 'a failing job returns a promise');
  return job;
}

async function coverage1d(
  target: WorkerPool,
  module: PoolModule,
  size: number,
  tile: number,
): Promise<Int32Array> {
  clear();
  await target.parallelFor({ dims: [size], tile: [tile] }, module.kernel('mark1'), [HITS, VALUES, OWNERS]);
  assert.deepEqual(
    Array.from(array(HITS, size)),
    new Array(size).fill(1),
    `[${size}] by ${tile}: every element once`,
  );
  assert.deepEqual(
    Array.from(array(VALUES, size)),
    Array.from({ length: size }, (_, i) => i * 2),
  );
  assert.equal(array(HITS, size + 1)[size], 0, 'nothing past the end');
  return array(OWNERS, size);
}

/** Runs `tiles` tiles that each spin `work` iterations; returns the threads that ran tiles. */
async function busyOwners(
  target: WorkerPool,
  module: PoolModule,
  tiles: number,
  work: number,
): Promise<Set<number>> {
  clear();
  await target.parallelFor({ dims: [tiles], tile: [1] }, module.kernel('unbalanced'), [OWNERS, tiles, work]);
  return new Set(array(OWNERS, tiles));
}

test('a 1-D range covers every element once, sizes not divisible by the tile', async () => {
  for (const [size, tile] of [
    [1000, 64],
    [1001, 7],
    [64, 64],
    [1, 1],
  ]) {
    await coverage1d(pool, kernels, size, tile);
    await coverage1d(widePool, wideKernels, size, tile);
  }
});

test('fewer tiles than threads: every element once, idle threads take nothing', async () => {
  await coverage1d(pool, kernels, 1, 1);
  await coverage1d(widePool, wideKernels, 3, 1);
  await coverage1d(widePool, wideKernels, 5, 8);
});

test('3-D ranges cover every element once, with short edge tiles and tiles larger than the range', async () => {
  for (const [dims, tile] of [
    [
      [5, 7, 9],
      [2, 3, 4],
    ],
    [
      [3, 1, 50],
      [4, 1, 64],
    ],
    [
      [17, 2, 3],
      [1, 2, 1],
    ],
  ]) {
    for (const [target, module] of [
      [pool, kernels],
      [widePool, wideKernels],
    ] as const) {
      clear();
      const size = dims[0] * dims[1] * dims[2];
      await target.parallelFor({ dims, tile }, module.kernel('mark3'), [dims[1], dims[2], HITS, OWNERS]);
      assert.deepEqual(Array.from(array(HITS, size)), new Array(size).fill(1), `[${dims}] by [${tile}]`);
      assert.equal(array(HITS, size + 1)[size], 0);
    }
  }
});

test('tileDone tells the calling thread of every tile once, each after it has run', async () => {
  const [dims, tile] = [
    [3, 40, 37],
    [1, 8, 5],
  ];
  const size = dims[0]! * dims[1]! * dims[2]!;
  for (const [target, module] of [
    [pool, kernels],
    [widePool, wideKernels],
  ] as const) {
    clear();
    const told = new Map<string, number>();
    const unfinished: string[] = [];
    const tileDone = (bounds: readonly number[]) => {
      const key = bounds.join(',');
      told.set(key, (told.get(key) ?? 0) + 1);
      const [b0, e0, b1, e1, b2, e2] = bounds as [number, number, number, number, number, number];
      const hits = array(HITS, size);
      for (let i = b0; i < e0; i++)
        for (let j = b1; j < e1; j++)
          for (let k = b2; k < e2; k++)
            if (Atomics.load(hits, (i * dims[1]! + j) * dims[2]! + k) !== 1) unfinished.push(key);
    };
    await target.parallelFor({ dims, tile }, module.kernel('mark3'), [dims[1]!, dims[2]!, HITS, OWNERS], {
      tileDone,
    });
    const expected: string[] = [];
    for (let i = 0; i < dims[0]!; i += tile[0]!)
      for (let j = 0; j < dims[1]!; j += tile[1]!)
        for (let k = 0; k < dims[2]!; k += tile[2]!)
          expected.push([i, i + 1, j, Math.min(j + 8, dims[1]!), k, Math.min(k + 5, dims[2]!)].join(','));
    assert.deepEqual([...told.keys()].sort(), expected.sort(), 'every tile, by its bounds');
    assert.ok(
      [...told.values()].every((count) => count === 1),
      'each once',
    );
    assert.deepEqual(unfinished, [], 'no tile told before all of it ran');
  }
});

test('an empty range runs nothing', async () => {
  clear();
  await pool.parallelFor({ dims: [4, 0, 3], tile: [1, 1, 1] }, kernels.kernel('mark3'), [0, 3, HITS, OWNERS]);
  assert.equal(
    array(HITS, 64).some((hits) => hits !== 0),
    false,
  );
});

test('the calling thread runs tiles, and so do the workers', async () => {
  // Tiles long enough that no thread, however scheduled, runs them all before the others wake.
  const owners = await busyOwners(pool, kernels, 24, 1_000_000);
  assert.ok(owners.has(0), 'the calling thread ran tiles');
  assert.ok(
    [...owners].some((thread) => thread > 0),
    'a worker ran tiles',
  );
});

test('one thread: the calling thread runs everything, with no workers', async () => {
  const single = await WorkerPool.start({ memory, threads: 1 });
  try {
    const module = await single.load(bytes);
    const owners = await coverage1d(single, module, 300, 7);
    assert.deepEqual(new Set(owners), new Set([0]));
  } finally {
    await single.close();
  }
});

test('idle threads steal tiles from the back of a busy thread’s range', async () => {
  clear();
  // 16 tiles in 2 runs of 8; the calling thread's run (tiles 0-7) is the only costly one.
  const tiles = 16;
  await pool.parallelFor({ dims: [tiles], tile: [1] }, kernels.kernel('unbalanced'), [OWNERS, 8, 3_000_000]);
  const owners = Array.from(array(OWNERS, tiles));
  const callerRun = owners.slice(0, 8);
  assert.ok(new Set(callerRun).size > 1, `more than one thread ran the calling thread's run: ${owners}`);
  const stolen = callerRun.findIndex((thread) => thread !== 0);
  assert.ok(
    callerRun.slice(stolen).every((thread) => thread !== 0),
    `thieves take from the back: ${callerRun}`,
  );
});

test('the calling thread does its chore first while the workers take its share', async () => {
  clear();
  const size = 4096;
  let callerTilesBeforeChore = -1;
  await pool.parallelFor({ dims: [size], tile: [16] }, kernels.kernel('mark1'), [HITS, VALUES, OWNERS], {
    first: () => {
      const hits = array(HITS, size);
      const owners = array(OWNERS, size);
      callerTilesBeforeChore = hits.filter((hit, i) => hit === 1 && owners[i] === 0).length;
      // Busy until a worker has reached the calling thread's run (on a starved machine, 10 s).
      const giveUp = performance.now() + 10_000;
      while (!hits.subarray(0, size / 2).some((hit) => hit === 1) && performance.now() < giveUp);
    },
  });
  assert.equal(callerTilesBeforeChore, 0, 'the chore ran before the calling thread took a tile');
  const owners = Array.from(array(OWNERS, size));
  assert.ok(
    owners.slice(0, size / 2).some((thread) => thread !== 0),
    "workers took tiles of the calling thread's run",
  );
  assert.deepEqual(Array.from(array(HITS, size)), new Array(size).fill(1), 'every element once');
});

test('a chore that throws fails the job as the calling thread’s; the pool goes on', async () => {
  clear();
  await assert.rejects(
    rejected(
      pool.parallelFor({ dims: [300], tile: [7] }, kernels.kernel('mark1'), [HITS, VALUES, OWNERS], {
        first: () => {
          throw new Error('chore failed');
        },
      }),
    ),
    /parallel region 'mark1' over \[300\] in tiles of \[7\] failed: the calling thread failed \(Error: chore failed/,
  );
  await coverage1d(pool, kernels, 1000, 10);
});

test('an idle pool parks its workers: next to no CPU time while idle', async () => {
  for (let i = 0; i < 20; i++) await coverage1d(pool, kernels, 1000, 10);
  await sleep(20);
  const before = process.cpuUsage();
  const idleStart = performance.now();
  await sleep(300);
  const used = process.cpuUsage(before);
  const idleMicros = (performance.now() - idleStart) * 1000;
  const share = (used.user + used.system) / idleMicros;
  assert.ok(
    share < 0.05,
    `the process used ${(share * 100).toFixed(1)}% of one core while the pool was idle`,
  );
});

test('a held pool parks its workers when no job comes for long: the calling thread gets the cores', async () => {
  await coverage1d(pool, kernels, 1000, 10);
  pool.hold(true);
  try {
    await sleep(20);
    const before = process.cpuUsage();
    const idleStart = performance.now();
    await sleep(300);
    const used = process.cpuUsage(before);
    const share = (used.user + used.system) / ((performance.now() - idleStart) * 1000);
    assert.ok(share < 0.05, `held but idle, the process used ${(share * 100).toFixed(1)}% of one core`);
    await coverage1d(pool, kernels, 1000, 10);
  } finally {
    pool.hold(false);
  }
});

test('a worker killed by a trapping kernel fails the job, naming it; the pool replaces it', async () => {
  for (const [target, module] of [
    [pool, kernels],
    [widePool, wideKernels],
  ] as const) {
    const failing = target.parallelFor({ dims: [48], tile: [1] }, module.kernel('trapping'), [0, 4_000_000]);
    // A dead worker is counted out on the event loop, so the job is still running here.
    assert.ok(failing instanceof Promise, 'the join waits on the event loop');
    await assert.rejects(
      rejected(target.parallelFor({ dims: [1], tile: [1] }, module.kernel('mark1'), [0, 0, 0])),
      /await it first/,
    );
    await assert.rejects(
      failing,
      (error: Error) =>
        error instanceof PoolError &&
        /parallel region 'trapping' over \[48\] in tiles of \[1\] failed/.test(error.message) &&
        /worker thread \d died \(RuntimeError: unreachable/.test(error.message),
    );
    await coverage1d(target, module, 4096, 16);
    const owners = await busyOwners(target, module, 24, 1_000_000);
    assert.ok(
      [...owners].some((thread) => thread > 0),
      `replacement workers run tiles: ${[...owners]}`,
    );
  }
});

test('a kernel that traps on the calling thread fails the job; the pool goes on', async () => {
  await assert.rejects(
    rejected(pool.parallelFor({ dims: [48], tile: [1] }, kernels.kernel('trapping'), [1, 1_000_000])),
    /parallel region 'trapping' over \[48\] in tiles of \[1\] failed: the calling thread failed \(RuntimeError: unreachable/,
  );
  await coverage1d(pool, kernels, 1000, 10);
});

test('the thread count defaults to the physical cores', async () => {
  const physical = describeMachine().cpu.physicalCores;
  const defaultPool = await WorkerPool.start({ memory });
  try {
    assert.equal(defaultPool.threads, typeof physical === 'number' ? physical : availableParallelism());
  } finally {
    await defaultPool.close();
  }
});

test('an unknown export, a bad range and a closed pool are refused', async () => {
  assert.throws(() => kernels.kernel('missing'), /exports no function 'missing'/);
  await assert.rejects(
    rejected(pool.parallelFor({ dims: [4, 4], tile: [2] }, kernels.kernel('mark1'))),
    /one tile size per dimension/,
  );
  await assert.rejects(
    rejected(pool.parallelFor({ dims: [4], tile: [0] }, kernels.kernel('mark1'))),
    /positive integers/,
  );
  const closing = await WorkerPool.start({ memory, threads: 2 });
  const module = await closing.load(bytes);
  await closing.close();
  await assert.rejects(
    rejected(closing.parallelFor({ dims: [1], tile: [1] }, module.kernel('mark1'))),
    /the pool is closed/,
  );
});
