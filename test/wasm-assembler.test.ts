/**
 * The WebAssembly assembler: every module it emits passes `WebAssembly.validate`; every instruction
 * of its tables encodes byte for byte as wabt's `wat2wasm` encodes the text dump (when wabt is
 * installed); generated code computes what it should (control flow, constants at their extremes,
 * SIMD and relaxed SIMD, atomics on a shared memory); and mistakes fail at the emitting call with
 * a message that names the function and the instruction.
 */

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import * as v8 from 'node:v8';
import { ModuleBuilder, OPS, WasmAssemblyError } from '../src/backends/wasm/assembler/index.js';
import { webAssembly, type WasmImports } from '../src/core/webassembly.js';

// Node 20 validates relaxed SIMD only behind this flag; later versions ignore it.
v8.setFlagsFromString('--experimental-wasm-relaxed-simd');

const wabt = spawnSync('wat2wasm', ['--version'], { encoding: 'utf8' });
const noWabt = wabt.error ? "wabt's wat2wasm is not installed (Debian package wabt)" : false;

/** Encodes, checks the engine accepts the bytes, and instantiates. */
function instantiate(module: ModuleBuilder, imports: WasmImports = {}): Record<string, unknown> {
  const bytes = module.encode();
  assert.ok(webAssembly.validate(bytes), `the engine rejects:\n${module.toText()}`);
  return new webAssembly.Instance(new webAssembly.Module(bytes), imports).exports;
}

/** Sections other than custom ones, as id → bytes: wat2wasm writes no name section by default. */
function standardSections(bytes: Uint8Array): Map<number, string> {
  const sections = new Map<number, string>();
  let position = 8;
  while (position < bytes.length) {
    const id = bytes[position++];
    let size = 0;
    for (let shift = 0; ; shift += 7) {
      const byte = bytes[position++];
      size += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) break;
    }
    if (id !== 0) sections.set(id, Buffer.from(bytes.subarray(position, position + size)).toString('hex'));
    position += size;
  }
  return sections;
}

/** Assembles the text dump with wat2wasm and compares with the assembler's own bytes. */
function assertSameAsWat2wasm(module: ModuleBuilder): void {
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'heddle-wat-'));
  try {
    // wabt 1.0.32 (Debian 12) still spells the two relaxed dot products without `relaxed_`.
    const text = module.toText().replace(/relaxed_dot_i8x16_i7x16/g, 'dot_i8x16_i7x16');
    fs.writeFileSync(path.join(folder, 'module.wat'), text);
    const result = spawnSync('wat2wasm', ['--enable-all', 'module.wat', '-o', 'module.wasm'], {
      cwd: folder,
      encoding: 'utf8',
    });
    assert.equal(result.status, 0, result.stderr);
    const reference = new Uint8Array(fs.readFileSync(path.join(folder, 'module.wasm')));
    assert.deepEqual(standardSections(module.encode()), standardSections(reference));
  } finally {
    fs.rmSync(folder, { recursive: true, force: true });
  }
}

/** One function per table instruction, taking its operands as parameters. */
function everyInstruction(): ModuleBuilder {
  const module = new ModuleBuilder().importMemory('env', 'memory', { initial: 1, maximum: 2, shared: true });
  let count = 0;
  for (const [name, op] of OPS) {
    const fn = module.function(`op${count++}`, {
      params: op.signature.params.map((type, i) => [`p${i}`, type] as const),
      results: op.signature.results,
    });
    for (const param of fn.params) fn.get(param);
    const lastLane = (op.lanes ?? 1) - 1;
    const memarg = op.atomic ? { offset: 4 } : { offset: 4, align: 1 };
    if (op.lanes !== undefined && op.accessBytes !== undefined) fn.memLane(name as never, lastLane, memarg);
    else if (op.accessBytes !== undefined) fn.mem(name as never, memarg);
    else if (op.lanes !== undefined) fn.lane(name as never, lastLane);
    else fn.op(name as never);
  }
  return module;
}

/** A module exercising every control instruction, globals, imports, exports and calls. */
function controlFlow(): ModuleBuilder {
  const module = new ModuleBuilder().defineMemory({ initial: 1 }).exportMemory('memory');
  const counter = module.global('calls', 'i32', 0, { mutable: true, export: 'calls' });
  const log = module.importFunction('env', 'log', { params: ['i32'], results: [] });

  const triangle = module.function('triangle', { params: [['n', 'i32']], results: ['i32'], export: true });
  const [n] = triangle.params;
  const sum = triangle.local('i32', 'sum');
  triangle.globalGet(counter).i32Const(1).op('i32.add').globalSet(counter);
  triangle.block(null, (done) => {
    triangle.loop(null, (next) => {
      triangle.get(n).op('i32.eqz').brIf(done);
      triangle.get(sum).get(n).op('i32.add').set(sum);
      triangle.get(n).i32Const(1).op('i32.sub').set(n);
      triangle.br(next);
    });
  });
  triangle.get(sum);

  const classify = module.function('classify', { params: [['x', 'i32']], results: ['i32'], export: true });
  classify.block('i32', (result) => {
    classify.block(null, (two) => {
      classify.block(null, (one) => {
        classify.block(null, (zero) => {
          classify.get(classify.params[0]).brTable([zero, one, two], two);
        });
        classify.i32Const(100).br(result);
      });
      classify.i32Const(101).br(result);
    });
    classify.i32Const(102);
  });

  const sign = module.function('sign', { params: [['x', 'f64']], results: ['f64'], export: true });
  sign.get(sign.params[0]).f64Const(0).op('f64.lt');
  sign.if(
    'f64',
    () => sign.f64Const(-1),
    () => sign.f64Const(1),
  );

  const swap = module.function('swap_sub', {
    params: [
      ['a', 'i32'],
      ['b', 'i32'],
    ],
    results: ['i32'],
    export: true,
  });
  // A block that takes two values and leaves them swapped (multi-value).
  swap.get(swap.params[0]).get(swap.params[1]);
  const pair = { params: ['i32', 'i32'], results: ['i32', 'i32'] } as const;
  swap.block(pair, () => {
    const first = swap.local('i32', 'first');
    const second = swap.local('i32', 'second');
    swap.set(second).set(first).get(second).get(first);
  });
  swap.op('i32.sub');

  const pick = module.function('pick', { params: [['c', 'i32']], results: ['i32'], export: true });
  pick.i32Const(7).i32Const(9).get(pick.params[0]).select();
  pick.get(pick.params[0]).call(log);
  pick.i32Const(3).drop().nop();

  const memory = module.function('fill_and_sum', {
    params: [['bytes', 'i32']],
    results: ['i32'],
    export: true,
  });
  memory.i32Const(0).i32Const(3).get(memory.params[0]).memoryFill();
  memory.i32Const(64).i32Const(0).get(memory.params[0]).memoryCopy();
  memory.i32Const(64).mem('i32.load8_u').memorySize().op('i32.add');
  return module;
}

test('every instruction of the tables validates', () => {
  const bytes = everyInstruction().encode();
  assert.ok(webAssembly.validate(bytes));
  assert.ok(OPS.size > 400, `only ${OPS.size} instructions`);
});

test('every instruction encodes as wat2wasm encodes the text dump', { skip: noWabt }, () => {
  assertSameAsWat2wasm(everyInstruction());
});

test(
  'control flow, globals, imports and calls encode as wat2wasm encodes the text dump',
  { skip: noWabt },
  () => {
    assertSameAsWat2wasm(controlFlow());
  },
);

test('control flow runs: loops, br_table, if/else, multi-value blocks, select, calls', () => {
  const logged: number[] = [];
  const exports = instantiate(controlFlow(), { env: { log: (value: number) => logged.push(value) } });
  const call = (name: string, ...args: number[]) => (exports[name] as (...a: number[]) => number)(...args);
  assert.equal(call('triangle', 10), 55);
  assert.equal(call('triangle', 0), 0);
  assert.equal((exports.calls as { value: number }).value, 2);
  assert.deepEqual(
    [0, 1, 2, 3, -1].map((x) => call('classify', x)),
    [100, 101, 102, 102, 102],
  );
  assert.deepEqual([call('sign', -2.5), call('sign', 4)], [-1, 1]);
  assert.equal(call('swap_sub', 10, 3), 3 - 10);
  assert.deepEqual([call('pick', 1), call('pick', 0)], [7, 9]);
  assert.deepEqual(logged, [1, 0]);
  assert.equal(call('fill_and_sum', 16), 3 + 1);
});

const I32S = [0, -1, 63, 64, -64, -65, 0x7fffffff, -0x80000000, 0xffffffff];
const I64S = [0n, -1n, (1n << 63n) - 1n, -(1n << 63n), 1n << 40n];
const F32S = [0.1, -0, 3.4028234663852886e38, 1.401298464324817e-45, Infinity, -Infinity];
const F64S = [0.1, Number.MIN_VALUE, -Number.MAX_VALUE, NaN];

/** One exported function per constant, plus a v128 constant of each float shape. */
function constants(): ModuleBuilder {
  const module = new ModuleBuilder();
  I32S.forEach((value, i) => module.function(`i32_${i}`, { results: ['i32'], export: true }).i32Const(value));
  I64S.forEach((value, i) => module.function(`i64_${i}`, { results: ['i64'], export: true }).i64Const(value));
  F32S.forEach((value, i) => module.function(`f32_${i}`, { results: ['f32'], export: true }).f32Const(value));
  F64S.forEach((value, i) => module.function(`f64_${i}`, { results: ['f64'], export: true }).f64Const(value));
  const lanes = module.function('lanes', { results: ['f64'], export: true });
  lanes.v128Const('f32x4', [0.1, -0, 1e-40, -Infinity]).lane('f32x4.extract_lane', 0).op('f64.promote_f32');
  lanes.v128Const('f64x2', [0.25, 1e300]).lane('f64x2.extract_lane', 1).op('f64.add');
  lanes
    .v128Const('i64x2', [-1n, 1n << 62n])
    .op('v128.any_true')
    .op('f64.convert_i32_u')
    .op('f64.add');
  return module;
}

test('constants encode as wat2wasm encodes their text', { skip: noWabt }, () => {
  assertSameAsWat2wasm(constants());
});

test('constants keep their value at the edges of their types', () => {
  const exports = instantiate(constants());
  const read = (name: string) => (exports[name] as () => number | bigint)();
  assert.deepEqual(
    I32S.map((_, i) => read(`i32_${i}`)),
    I32S.map((v) => v | 0),
  );
  assert.deepEqual(
    I64S.map((_, i) => read(`i64_${i}`)),
    I64S,
  );
  assert.deepEqual(
    F32S.map((_, i) => read(`f32_${i}`)),
    F32S.map(Math.fround),
  );
  assert.deepEqual(
    F64S.map((_, i) => read(`f64_${i}`)),
    F64S,
  );
  assert.equal(read('lanes'), Math.fround(0.1) + 1e300 + 1);
});

test('SIMD and relaxed SIMD compute lane by lane in a shared memory', () => {
  const memory = new webAssembly.Memory({ initial: 1, maximum: 1, shared: true });
  const module = new ModuleBuilder().importMemory('env', 'memory', { initial: 1, maximum: 1, shared: true });
  // out[0..3] = a * b + c (relaxed FMA), out[4..7] = reversed lanes of a, returns lane 2 of c.
  const fn = module.function('kernel', { results: ['f32'], export: true });
  const a = fn.local('v128', 'a');
  fn.i32Const(0).mem('v128.load').set(a);
  fn.i32Const(64)
    .get(a)
    .i32Const(0)
    .mem('v128.load', { offset: 16 })
    .i32Const(0)
    .mem('v128.load', { offset: 32 });
  fn.op('f32x4.relaxed_madd').mem('v128.store');
  fn.i32Const(80)
    .get(a)
    .get(a)
    .shuffle([12, 13, 14, 15, 8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3])
    .mem('v128.store');
  fn.i32Const(0).mem('v128.load', { offset: 32 }).lane('f32x4.extract_lane', 2);
  const floats = new Float32Array(memory.buffer);
  floats.set([1, 2, 3, 4, 0.5, 0.25, 2, -1, 10, 20, 30, 40]);
  const result = (instantiate(module, { env: { memory } }).kernel as () => number)();
  assert.equal(result, 30);
  assert.deepEqual([...floats.subarray(16, 24)], [10.5, 20.5, 36, 36, 4, 3, 2, 1]);
});

test('atomics read-modify-write a shared memory and wait reports a changed value', () => {
  const memory = new webAssembly.Memory({ initial: 1, maximum: 1, shared: true });
  const module = new ModuleBuilder().importMemory('env', 'memory', { initial: 1, maximum: 1, shared: true });
  const add = module.function('add', { params: [['v', 'i32']], results: ['i32'], export: true });
  add.i32Const(8).get(add.params[0]).mem('i32.atomic.rmw.add');
  const swap = module.function('cas', {
    params: [
      ['old', 'i32'],
      ['new', 'i32'],
    ],
    results: ['i32'],
    export: true,
  });
  swap.i32Const(8).get(swap.params[0]).get(swap.params[1]).mem('i32.atomic.rmw.cmpxchg');
  const wait = module.function('wait_if', { params: [['expected', 'i32']], results: ['i32'], export: true });
  wait.i32Const(8).get(wait.params[0]).i64Const(0).mem('memory.atomic.wait32');
  const notify = module.function('wake', { results: ['i32'], export: true });
  notify.atomicFence().i32Const(8).i32Const(1).mem('memory.atomic.notify');
  const exports = instantiate(module, { env: { memory } }) as Record<string, (...args: number[]) => number>;
  assert.equal(exports.add(5), 0);
  assert.equal(exports.add(2), 5);
  assert.equal(exports.cas(7, 100), 7);
  assert.equal(Atomics.load(new Int32Array(memory.buffer), 2), 100);
  assert.equal(exports.wait_if(1), 1, '1 means not-equal: the value had changed');
  assert.equal(exports.wait_if(100), 2, '2 means timed out');
  assert.equal(exports.wake(), 0);
});

test('mistakes fail where they are emitted, naming the function and the instruction', () => {
  const fresh = () => new ModuleBuilder().defineMemory({ initial: 1 });
  const expectError = (pattern: RegExp, build: (module: ModuleBuilder) => void) =>
    assert.throws(
      () => build(fresh()),
      (error: Error) => error instanceof WasmAssemblyError && pattern.test(error.message),
    );

  expectError(/\$mix, instruction 3 \(f32x4\.add\): expected v128 on the stack but found f32/, (m) =>
    m.function('mix').i32Const(0).mem('v128.load').f32Const(1).op('f32x4.add'),
  );
  expectError(/\$empty, instruction 0 \(i32\.add\): expected i32 on the stack but it is empty/, (m) =>
    m.function('empty').op('i32.add'),
  );
  expectError(/1 value\(s\) left on the stack: \[i32\]/, (m) => {
    m.function('leftover').i32Const(1);
    m.encode();
  });
  expectError(/label \$loop0 is not in scope/, (m) => {
    const fn = m.function('escape');
    let outside: Parameters<typeof fn.br>[0] | undefined;
    fn.loop(null, (start) => (outside = start));
    fn.br(outside!);
  });
  expectError(/atomic accesses must have align=4/, (m) =>
    m.function('atomic').i32Const(0).mem('i32.atomic.load', { align: 1 }),
  );
  expectError(/align=32 must be a power of two no larger than 16/, (m) =>
    m.function('overaligned').i32Const(0).mem('v128.load', { align: 32 }),
  );
  expectError(/lane 4 is out of range 0\.\.3/, (m) =>
    m.function('lanes').f32Const(0).op('f32x4.splat').lane('f32x4.extract_lane', 4),
  );
  expectError(/global \$g is immutable/, (m) =>
    m
      .function('set')
      .i32Const(1)
      .globalSet(m.global('g', 'i32', 0)),
  );
  expectError(/export "f" is declared twice/, (m) => {
    m.function('f', { export: true });
    m.function('g', { export: 'f' });
  });
  assert.throws(() => {
    const module = new ModuleBuilder();
    module
      .function('load', { results: ['i32'] })
      .i32Const(0)
      .mem('i32.load');
    module.encode();
  }, /accesses memory but the module has none/);
  expectError(/a shared memory must declare its maximum/, () =>
    new ModuleBuilder().importMemory('env', 'memory', { initial: 1, shared: true }),
  );
  expectError(/\$done, instruction 1 \(br\): the function is already finished/, (m) => {
    const fn = m.function('done', { results: ['i32'] });
    fn.i32Const(1);
    m.encode();
    fn.br({ name: 'anywhere' });
  });
  expectError(/local \$lost belongs to another function/, (m) => {
    const lost = m.function('one').local('i32', 'lost');
    m.function('two').get(lost);
  });
});

test('code after an unconditional branch is typed as unreachable, as the specification says', () => {
  const module = new ModuleBuilder();
  const fn = module.function('early', { params: [['x', 'i32']], results: ['i32'], export: true });
  fn.get(fn.params[0]).return().op('i32.add');
  assert.equal((instantiate(module).early as (x: number) => number)(41), 41);
});

test('the text dump names functions, locals and labels and indents by nesting', () => {
  const module = new ModuleBuilder().importMemory('env', 'memory', { initial: 1, maximum: 4, shared: true });
  const fn = module.function('sum4', { params: [['ptr', 'i32']], results: ['f32'], export: true });
  const acc = fn.local('v128', 'acc');
  fn.i32Const(0).set(fn.params[0]);
  fn.loop(
    null,
    (rows) => {
      fn.get(acc).get(fn.params[0]).mem('v128.load', { offset: 16 }).op('f32x4.add').set(acc);
      fn.get(fn.params[0]).i32Const(0).op('i32.ne').brIf(rows);
    },
    'rows',
  );
  fn.get(acc).lane('f32x4.extract_lane', 0);
  assert.equal(
    module.toText(),
    [
      '(module',
      '  (type $t0 (func (param i32) (result f32)))',
      '  (import "env" "memory" (memory $memory 1 4 shared))',
      '  (export "sum4" (func $sum4))',
      '  (func $sum4 (type $t0) (param $ptr i32) (result f32)',
      '    (local $acc v128)',
      '    i32.const 0',
      '    local.set $ptr',
      '    loop $rows0',
      '      local.get $acc',
      '      local.get $ptr',
      '      v128.load offset=16',
      '      f32x4.add',
      '      local.set $acc',
      '      local.get $ptr',
      '      i32.const 0',
      '      i32.ne',
      '      br_if $rows0',
      '    end',
      '    local.get $acc',
      '    f32x4.extract_lane 0',
      '  )',
      ')',
      '',
    ].join('\n'),
  );
  assert.ok(webAssembly.validate(module.encode()));
});
