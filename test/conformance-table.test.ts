/**
 * The README's conformance table on a small fixture of run records: which family each case
 * counts under (its model's operator, the function an `_expanded` case expands, the case's name as
 * a last resort), the per-family and per-suite counts, the failure list, and the rewrite between
 * the markers.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CaseRecord, ConformanceReport } from '../src/conformance/report.js';
import {
  NO_KERNEL_FAMILY,
  TABLE_END,
  TABLE_START,
  familyIndex,
  familyRows,
  groupCase,
  renderTable,
  replaceTable,
} from '../src/conformance/table.js';

const INDEX = familyIndex([
  ['binary', [{ op: 'Add' }, { op: 'Greater' }]],
  ['cast', [{ op: 'Cast' }, { op: 'CastLike' }]],
  ['constant', [{ op: 'Constant' }]],
  ['control-flow', [{ op: 'Loop' }]],
  ['linear-attention', [{ domain: 'ai.onnx.preview', op: 'FlexAttention' }]],
  ['random', [{ op: 'Bernoulli' }, { op: 'RandomUniformLike' }]],
  ['reduce', [{ op: 'ReduceMax' }, { op: 'ReduceSum' }]],
  ['softmax', [{ op: 'Softmax' }]],
]);

function record(
  name: string,
  ops: string[],
  status: CaseRecord['status'] = 'passed',
  reason?: string,
): CaseRecord {
  const operators = ops.map((op) => ({
    domain: op === 'FlexAttention' ? 'ai.onnx.preview' : '',
    opType: op,
    opset: 22,
  }));
  return { name, status, ...(reason && { reason }), operators, millis: 1 };
}

/** Each fixture case with the value names its model computes. */
const FIXTURE: [CaseRecord, string[]][] = [
  [record('test_add', ['Add']), ['sum']],
  [
    record('test_add_bcast', ['Add'], 'failed', "test_data_set_0, output 'sum': element 3 is 1, expected 2"),
    [],
  ],
  [record('test_constant', ['Constant']), ['values']],
  [record('test_loop11', ['Loop', 'Add', 'Greater']), ['out']],
  [record('test_bernoulli', ['Bernoulli'], 'passed by properties'), ['y']],
  [
    record('test_bernoulli_expanded', ['RandomUniformLike', 'Greater', 'Cast'], 'passed by properties'),
    [
      'Bernoulli_test_bernoulli_expanded_function_X_random',
      'Bernoulli_test_bernoulli_expanded_function_X_greater',
      'y',
    ],
  ],
  [
    record('test_softmax_axis_0_expanded_ver18', ['Constant', 'ReduceMax', 'ReduceSum']),
    ['Softmax_test_softmax_axis_0_expanded_function_axes', 'y'],
  ],
  [record('test_castlike_FLOAT_to_DOUBLE_expanded', ['Cast']), ['output']],
  [
    record('test_flexattention_expanded_ver26', ['Shape', 'Softmax']),
    ['FlexAttention_test_flexattention_expanded_function_BatchSize'],
  ],
  [record('test_unknown_op', ['NoSuchOp'], 'failed', 'no kernel for NoSuchOp\nat node 0'), []],
];

const grouped = FIXTURE.map(([r, names]) => groupCase(r, names, INDEX));

test('conformance table: each case counts under the family of its main operator', () => {
  const families = Object.fromEntries(grouped.map((g) => [g.record.name, [g.operator, g.family, g.byName]]));
  assert.deepEqual(families, {
    test_add: ['Add', 'binary', false],
    test_add_bcast: ['Add', 'binary', false],
    test_constant: ['Constant', 'constant', false],
    test_loop11: ['Loop', 'control-flow', false],
    test_bernoulli: ['Bernoulli', 'random', false],
    test_bernoulli_expanded: ['Bernoulli', 'random', false],
    test_softmax_axis_0_expanded_ver18: ['Softmax', 'softmax', false],
    test_castlike_FLOAT_to_DOUBLE_expanded: ['CastLike', 'cast', true],
    test_flexattention_expanded_ver26: ['FlexAttention', 'linear-attention', false],
    test_unknown_op: ['NoSuchOp', NO_KERNEL_FAMILY, false],
  });
});

test('conformance table: cases, passes (by properties included) and failures per family', () => {
  assert.deepEqual(familyRows(grouped), [
    { family: NO_KERNEL_FAMILY, cases: 1, passed: 0, failed: 1 },
    { family: 'binary', cases: 2, passed: 1, failed: 1 },
    { family: 'cast', cases: 1, passed: 1, failed: 0 },
    { family: 'constant', cases: 1, passed: 1, failed: 0 },
    { family: 'control-flow', cases: 1, passed: 1, failed: 0 },
    { family: 'linear-attention', cases: 1, passed: 1, failed: 0 },
    { family: 'random', cases: 2, passed: 2, failed: 0 },
    { family: 'softmax', cases: 1, passed: 1, failed: 0 },
  ]);
});

test('conformance table: the rendered section has the families, the totals and every failure', () => {
  const node: ConformanceReport = {
    suite: 'node',
    backends: ['wasm', 'reference'],
    optimization: 'all',
    cases: FIXTURE.map(([r]) => r),
  };
  const simple: ConformanceReport = {
    ...node,
    suite: 'simple',
    cases: [record('test_gradient_of_add', ['Gradient'], 'failed', 'no kernel')],
  };
  const table = renderTable({ grouped, suites: [node, simple], tolerance: { rtol: 1e-3, atol: 1e-5 } });
  const lines = table.split('\n');
  assert.equal(lines[0], TABLE_START);
  assert.equal(lines.at(-1), TABLE_END);
  assert.ok(
    lines.every((line) => line.length <= 100 || line.startsWith('|')),
    'prose wraps at 100 columns',
  );
  assert.match(table, /rtol 1e-3 and atol 1e-5/);
  assert.match(table, /from the case's name\s.*\(1 CastLike case\)/s);
  assert.ok(lines.includes('| binary | 2 | 1 | 1 |'));
  assert.ok(lines.includes('| random | 2 | 2 | 0 |'));
  assert.ok(lines.includes('| `node/` | 10 | 8 | 2 | 2 |'));
  assert.ok(lines.includes('| `simple/` | 1 | 0 | 0 | 1 |'));
  const failures = lines.filter((line) => line.startsWith('- '));
  assert.deepEqual(failures, [
    "- `node/test_add_bcast`: test_data_set_0, output 'sum': element 3 is 1, expected 2",
    '- `node/test_unknown_op`: no kernel for NoSuchOp at node 0',
    '- `simple/test_gradient_of_add`: no kernel',
  ]);
});

test('conformance table: only the text between the markers is rewritten', () => {
  const readme = `# Title\n\nBefore.\n\n${TABLE_START}\nold table\n${TABLE_END}\n\nAfter.\n`;
  const table = `${TABLE_START}\nnew table\n${TABLE_END}`;
  assert.equal(replaceTable(readme, table), `# Title\n\nBefore.\n\n${table}\n\nAfter.\n`);
  assert.equal(replaceTable(replaceTable(readme, table), table), replaceTable(readme, table));
  assert.throws(() => replaceTable('# No markers\n', table), /no '<!-- conformance-table:start/);
});
