/**
 * Elementwise-chain fusion (extended): a tree of elementwise operators on floats, in which every
 * intermediate result feeds exactly one operator of the tree and is not a graph output, becomes
 * one com.heddle::ElementwiseChain node. Its inputs are the tree's external inputs, and its
 * attributes hold the computation as a small program (format and kernel in
 * backends/reference/kernels/fused-elementwise.ts). Inputs broadcast at run time as the operators
 * did, so the tree's shapes need not be known; its element type must be, to be a float.
 *
 * Also `elementTypeOf`, which the linear fusions use too: a value's element type from declared or
 * inferred types, constants, or the inputs of the operator that made it.
 */

import { isFloatType, type DataType } from '../core/dtype.js';
import { CHAIN_OPS } from '../backends/reference/kernels/fused-elementwise.js';
import { HEDDLE_DOMAIN, opLabel, type Attribute, type Node } from '../ir/graph.js';
import type { GraphEditor } from './graph-edit.js';
import type { GraphPass, PassContext } from './pass.js';

/**
 * For operators whose output has the element type of some of their inputs, those inputs' indices
 * (by domain and op type). ElementwiseChain is not among them: its inputs may hold a Where's bool
 * condition or a Pow's integer exponent.
 */
const SAME_TYPE_INPUTS: ReadonlyMap<string, readonly number[]> = new Map([
  ...[...CHAIN_OPS.keys()].map((op): [string, number[]] => [
    op,
    op === 'Where' ? [1, 2] : op === 'Pow' ? [0] : [0, 1, 2],
  ]),
  ['Conv', [0, 1, 2]],
  ['Gemm', [0, 1, 2]],
  ['MatMul', [0, 1]],
  [`${HEDDLE_DOMAIN}::FusedConv`, [0, 1, 2]],
  [`${HEDDLE_DOMAIN}::FusedGemm`, [0, 1, 2, 3]],
  [`${HEDDLE_DOMAIN}::FusedMatMul`, [0, 1, 2]],
]);

/** How far `elementTypeOf` looks back through producers before giving up. */
const TYPE_SEARCH_LIMIT = 64;

/**
 * The element type of `value`: declared or inferred, a constant's, or found through the inputs of
 * the operators that made it which share its type. Undefined when none of those tells.
 */
export function elementTypeOf(editor: GraphEditor, value: string): DataType | undefined {
  const pending = [value];
  const seen = new Set<string>();
  while (pending.length > 0 && seen.size < TYPE_SEARCH_LIMIT) {
    const current = pending.shift()!;
    if (current === '' || seen.has(current)) continue;
    seen.add(current);
    const declared = editor.graph.valueTypes.get(current);
    if (declared?.kind === 'tensor') return declared.elemType;
    const constant = editor.constant(current);
    if (constant) return constant.type;
    const producer = editor.producer(current);
    const sources = producer && SAME_TYPE_INPUTS.get(opLabel(producer));
    if (producer && sources && producer.outputs.length === 1) {
      for (const i of sources) pending.push(producer.inputs[i] ?? '');
    }
  }
  return undefined;
}

/** A node the chain may hold: a chainable operator, in an opset meaning what the chain computes, on floats. */
function isChainable(editor: GraphEditor, node: Node): boolean {
  const since = CHAIN_OPS.get(node.opType);
  const output = node.outputs[0] ?? '';
  const type = output === '' ? undefined : elementTypeOf(editor, output);
  return (
    node.domain === '' &&
    since !== undefined &&
    node.opset >= since &&
    node.outputs.length === 1 &&
    [...node.attributes.values()].every((a) => a.type === 'float') &&
    type !== undefined &&
    isFloatType(type)
  );
}

/** True when `node`'s output feeds one chainable node alone: the chain through `node` goes on there. */
function chainsOnward(editor: GraphEditor, node: Node, chainable: (n: Node) => boolean): boolean {
  const output = node.outputs[0]!;
  const [consumer] = editor.consumers(output);
  return consumer !== undefined && editor.onlyFeeds(output, consumer) && chainable(consumer);
}

/** The tree ending at `root`: producers that feed only nodes of the tree, producers first. */
function collectTree(editor: GraphEditor, root: Node, chainable: (n: Node) => boolean): Node[] {
  const members: Node[] = [];
  const visit = (node: Node): void => {
    for (const input of node.inputs) {
      const producer = input === '' ? undefined : editor.producer(input);
      if (producer && !members.includes(producer) && editor.onlyFeeds(input, node) && chainable(producer)) {
        visit(producer);
      }
    }
    members.push(node);
  };
  visit(root);
  return members;
}

/** The ElementwiseChain node computing `members` (in order), which reads the values they read from outside. */
function chainNode(editor: GraphEditor, members: readonly Node[]): Node {
  const produced = new Map(members.map((node, j) => [node.outputs[0]!, j]));
  const externals = [
    ...new Set(members.flatMap((node) => node.inputs.filter((i) => i !== '' && !produced.has(i)))),
  ];
  const operandOf = (input: string): number => {
    if (input === '') return -1;
    const j = produced.get(input);
    return j === undefined ? externals.indexOf(input) : externals.length + j;
  };
  const attributes = members.flatMap((node, j) =>
    [...node.attributes.values()]
      .filter((a) => a.type === 'float')
      .map((a) => ({ owner: j, name: a.name, value: a.value })),
  );
  const program: Attribute[] = [
    { name: 'ops', type: 'strings', value: members.map((n) => n.opType) },
    { name: 'operand_counts', type: 'ints', value: members.map((n) => n.inputs.length) },
    { name: 'operands', type: 'ints', value: members.flatMap((n) => n.inputs.map(operandOf)) },
  ];
  if (attributes.length > 0) {
    program.push(
      { name: 'attribute_owners', type: 'ints', value: attributes.map((a) => a.owner) },
      { name: 'attribute_names', type: 'strings', value: attributes.map((a) => a.name) },
      { name: 'attribute_values', type: 'floats', value: attributes.map((a) => a.value) },
    );
  }
  const root = members[members.length - 1]!;
  return editor.heddleNode('ElementwiseChain', root.name, externals, [root.outputs[0]!], program);
}

/**
 * Each tree is collected from its root, the node whose output goes on to no chainable node alone;
 * walking the graph backwards meets roots before the nodes they absorb.
 */
function fuseChains(ctx: PassContext): boolean {
  const { editor } = ctx;
  const verdicts = new Map<Node, boolean>();
  const chainable = (node: Node): boolean => {
    let verdict = verdicts.get(node);
    if (verdict === undefined) verdicts.set(node, (verdict = isChainable(editor, node)));
    return verdict;
  };
  const fused = new Set<Node>();
  let changed = false;
  for (const root of [...ctx.graph.nodes].reverse()) {
    if (fused.has(root) || !chainable(root) || chainsOnward(editor, root, chainable)) continue;
    const members = collectTree(editor, root, chainable);
    if (members.length < 2) continue;
    editor.replace(members, chainNode(editor, members));
    members.forEach((node) => fused.add(node));
    const steps = members.map((n) => `${n.opType} '${n.name}'`).join(' + ');
    ctx.record(`fused ${steps} into ElementwiseChain '${root.name}'`, members);
    changed = true;
  }
  return changed;
}

export const passes: GraphPass[] = [{ name: 'elementwise-chain-fusion', level: 'extended', run: fuseChains }];
