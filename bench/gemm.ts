/**
 * How close does the wasm GEMM come to the machine's peak? Runs the wasm backend's MatMul kernel
 * (constant B packed at prepare, A and the result in the heap, as in a planned model) on 512³ and
 * on the products of the benchmark models, on one thread and on two, and prints GFLOP/s as a
 * percent of the probe's measured SIMD peak for as many threads (relaxed-SIMD FMA where the host
 * has it). Medians of several rounds, and the best round, which is what the kernel does when no
 * other process takes its cores; the machine is shared, so compare runs back to back.
 * Run: npm run build && node dist/bench/gemm.js [words...]: only the products whose description or
 * M×N×K contains one of the words (e.g. `node dist/bench/gemm.js 'LM head' 512×512`).
 */

import Table from 'cli-table3';
import { Tensor } from '../src/core/tensor.js';
import type { Node } from '../src/ir/graph.js';
import type { KernelArgs, PreparedKernel } from '../src/backends/backend.js';
import { WasmBackend } from '../src/backends/wasm/backend.js';
import { loadProbe, peakGflops } from '../src/probe/index.js';

interface Shape {
  what: string;
  m: number;
  n: number;
  k: number;
}

const SHAPES: Shape[] = [
  { what: 'square', m: 512, n: 512, k: 512 },
  { what: 'BERT QKV projection', m: 256, n: 768, k: 256 },
  { what: 'BERT FFN up', m: 256, n: 1024, k: 256 },
  { what: 'BERT FFN down', m: 256, n: 256, k: 1024 },
  { what: 'GPT LM head', m: 64, n: 50257, k: 256 },
  { what: 'GPT FFN up', m: 64, n: 1024, k: 256 },
  { what: 'GPT FFN down', m: 64, n: 256, k: 1024 },
  { what: 'GPT QKV projection', m: 64, n: 768, k: 256 },
  { what: 'GPT attention output', m: 64, n: 256, k: 256 },
  { what: 'ResNet-18 3×3 conv, 56×56×64', m: 64, n: 3136, k: 576 },
  { what: 'ResNet-18 3×3 conv, 7×7×512', m: 512, n: 49, k: 4608 },
];

const ROUNDS = 7;
/** Seconds of calls per round. */
const ROUND_SECONDS = 0.1;

function matmulNode(): Node {
  return {
    name: 'bench_matmul',
    opType: 'MatMul',
    domain: '',
    opset: 13,
    inputs: ['a', 'b'],
    outputs: ['y'],
    attributes: new Map(),
  };
}

function filled(size: number, value: (i: number) => number): Float32Array {
  return Float32Array.from({ length: size }, (_, i) => value(i));
}

/** The kernel for one shape on `backend`, and the arguments of a run with everything in the heap. */
function prepare(backend: WasmBackend, { m, n, k }: Shape): { kernel: PreparedKernel; args: KernelArgs } {
  const { heap } = backend.runtime;
  const inHeap = (values: Float32Array, dims: number[]) =>
    new Tensor('float32', heap.view('float32', heap.copyIn(values), values.length), dims);
  const a = inHeap(
    filled(m * k, (i) => ((i % 7) - 3) / 8),
    [m, k],
  );
  const b = new Tensor(
    'float32',
    filled(k * n, (i) => ((i % 5) - 2) / 16),
    [k, n],
  );
  const y = inHeap(new Float32Array(m * n), [m, n]);
  const kernel = backend.prepare(matmulNode(), new Map([['b', b]]));
  const args: KernelArgs = {
    inputs: [a, b],
    allocateOutput: () => y,
    runSubgraph: () => {
      throw new Error('no subgraphs here');
    },
    site: {},
  };
  return { kernel, args };
}

/** Seconds of one run: the median round's, and the best round's (what an idle machine gives). */
async function secondsPerRun(
  kernel: PreparedKernel,
  args: KernelArgs,
): Promise<{ median: number; best: number }> {
  const start = performance.now();
  let calls = 0;
  while (performance.now() - start < 1000 * ROUND_SECONDS || calls < 3) {
    await kernel.run(args);
    calls++;
  }
  const estimate = (performance.now() - start) / calls;
  const perRound = Math.max(1, Math.round((1000 * ROUND_SECONDS) / estimate));
  const rounds: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const begin = performance.now();
    for (let i = 0; i < perRound; i++) await kernel.run(args);
    rounds.push((performance.now() - begin) / perRound / 1000);
  }
  rounds.sort((x, y) => x - y);
  return { median: rounds[ROUNDS >> 1]!, best: rounds[0]! };
}

/** The shapes the command line names (all of them when it names none). */
function selectedShapes(words: string[]): Shape[] {
  if (words.length === 0) return SHAPES;
  return SHAPES.filter((shape) =>
    words.some((word) => shape.what.includes(word) || `${shape.m}×${shape.n}×${shape.k}`.includes(word)),
  );
}

async function main(): Promise<void> {
  const probe = await loadProbe();
  const backends = [1, 2].map((threads) => new WasmBackend({ threads }));
  await Promise.all(backends.map((backend) => backend.initialize()));
  const path = backends[0]!.features.relaxedSimd ? 'relaxed-madd' : 'mul-add';
  const peak = (threads: number) =>
    probe.ceilings ? peakGflops(probe.ceilings, threads === 1 ? 'perThread' : 'allThreads', path) : undefined;
  const table = new Table({
    head: ['product', 'M×N×K', 'threads', 'kernel', 'ms', 'GFLOP/s', `% of ${path} peak`, 'best round'],
  });
  for (const shape of selectedShapes(process.argv.slice(2))) {
    for (const backend of backends) {
      const { kernel, args } = prepare(backend, shape);
      const seconds = await secondsPerRun(kernel, args);
      const gflops = (at: number) => (2 * shape.m * shape.n * shape.k) / at / 1e9;
      const ceiling = peak(backend.threads);
      const share = (at: number) =>
        ceiling ? `${((100 * gflops(at)) / ceiling).toFixed(0)}% of ${ceiling.toFixed(1)}` : 'not measured';
      table.push([
        shape.what,
        `${shape.m}×${shape.n}×${shape.k}`,
        backend.threads,
        kernel.name,
        (seconds.median * 1000).toFixed(3),
        gflops(seconds.median).toFixed(1),
        share(seconds.median),
        `${gflops(seconds.best).toFixed(1)} GFLOP/s, ${share(seconds.best)}`,
      ]);
    }
  }
  console.log(table.toString());
  for (const backend of backends) backend.dispose();
}

await main();
