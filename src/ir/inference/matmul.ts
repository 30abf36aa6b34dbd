/**
 * Rules for linear algebra: MatMul (numpy semantics: 1-D operands promoted then squeezed, batch
 * dims broadcast), its integer and quantized forms, Gemm with its transposes, Einsum, whose
 * equation names every axis, and Det (one determinant per matrix of the batch).
 */

import type { DataType } from '../../core/dtype.js';
import type { Dim } from '../graph.js';
import { broadcastShapes, dimsCompatible, formatShape, tensorType, unifyDims } from './dims.js';
import type { InferenceRule, RuleContext, TensorType } from './rule.js';

function matmulShape(ctx: RuleContext, a: Dim[] | undefined, b: Dim[] | undefined): Dim[] | undefined {
  if (!a || !b) return undefined;
  if (a.length === 0 || b.length === 0) ctx.fail('MatMul does not take scalars');
  const left = a.length === 1 ? [1, a[0]!] : a;
  const right = b.length === 1 ? [b[0]!, 1] : b;
  const inner = left[left.length - 1]!;
  if (!dimsCompatible(inner, right[right.length - 2]!)) {
    ctx.fail(`inner dimensions differ: ${formatShape(a)} times ${formatShape(b)}`);
  }
  const batch = broadcastShapes([left.slice(0, -2), right.slice(0, -2)], ctx.fail)!;
  const rows = a.length > 1 ? [left[left.length - 2]!] : [];
  const columns = b.length > 1 ? [right[right.length - 1]!] : [];
  return [...batch, ...rows, ...columns];
}

function matmulOf(a: number, b: number, elemType: (ctx: RuleContext) => DataType | undefined) {
  return (ctx: RuleContext) => [tensorType(elemType(ctx), matmulShape(ctx, ctx.shape(a), ctx.shape(b)))];
}

function gemm(ctx: RuleContext): (TensorType | undefined)[] {
  const a = ctx.shape(0);
  const b = ctx.shape(1);
  if (!a || !b) return [tensorType(ctx.elemType(0))];
  if (a.length !== 2 || b.length !== 2) {
    ctx.fail(`Gemm takes matrices, got ${formatShape(a)} and ${formatShape(b)}`);
  }
  const [m, k] = ctx.int('transA', 0) ? [a[1]!, a[0]!] : [a[0]!, a[1]!];
  const [kb, n] = ctx.int('transB', 0) ? [b[1]!, b[0]!] : [b[0]!, b[1]!];
  if (!dimsCompatible(k, kb)) ctx.fail(`inner dimensions differ: ${formatShape(a)} and ${formatShape(b)}`);
  return [tensorType(ctx.elemType(0), [m, n])];
}

interface EinsumTerm {
  letters: string[];
  ellipsisAt: number;
}

function parseTerm(term: string, ctx: RuleContext): EinsumTerm {
  const ellipsisAt = term.indexOf('...');
  const letters = [...term.replace('...', '')];
  if (letters.some((c) => !/[a-zA-Z]/.test(c))) {
    ctx.fail(`einsum term '${term}' holds characters other than letters`);
  }
  return { letters, ellipsisAt: ellipsisAt < 0 ? -1 : [...term.slice(0, ellipsisAt)].length };
}

function einsum(ctx: RuleContext): (TensorType | undefined)[] {
  const equation = ctx.string('equation', '').replace(/\s/g, '');
  const [lhs, rhs] = equation.split('->') as [string, string | undefined];
  const terms = lhs.split(',').map((t) => parseTerm(t, ctx));
  if (terms.length !== ctx.inputCount) {
    ctx.fail(`equation '${equation}' has ${terms.length} operands, the node ${ctx.inputCount}`);
  }
  const sizes = new Map<string, Dim>();
  let ellipsis: Dim[] | undefined = [];
  for (const [i, term] of terms.entries()) {
    const shape = ctx.shape(i);
    if (!shape) {
      if (term.ellipsisAt >= 0) ellipsis = undefined;
      continue;
    }
    const ellipsisRank = shape.length - term.letters.length;
    if (ellipsisRank < 0 || (term.ellipsisAt < 0 && ellipsisRank !== 0)) {
      ctx.fail(`operand ${i} of rank ${shape.length} does not fit its term in '${equation}'`);
    }
    const at = term.ellipsisAt < 0 ? shape.length : term.ellipsisAt;
    const lettered = [...shape.slice(0, at), ...shape.slice(at + ellipsisRank)];
    term.letters.forEach((letter, k) => {
      sizes.set(letter, letterSize(sizes.get(letter), lettered[k]!, letter, ctx));
    });
    const own = shape.slice(at, at + ellipsisRank);
    if (ellipsis) ellipsis = broadcastShapes([ellipsis, own], ctx.fail);
  }
  const output = rhs === undefined ? implicitOutput(terms) : parseTerm(rhs, ctx);
  const dims = output.letters.map((letter) => sizes.get(letter) ?? null);
  if (output.ellipsisAt < 0) return [tensorType(ctx.elemType(0), dims)];
  if (!ellipsis) return [tensorType(ctx.elemType(0))];
  const at = output.ellipsisAt;
  return [tensorType(ctx.elemType(0), [...dims.slice(0, at), ...ellipsis, ...dims.slice(at)])];
}

/** A letter seen again: sizes must agree, except that 1 broadcasts. */
function letterSize(seen: Dim | undefined, dim: Dim, letter: string, ctx: RuleContext): Dim {
  if (seen === undefined) return dim;
  if (seen === 1) return dim;
  if (dim === 1) return seen;
  if (!dimsCompatible(seen, dim)) {
    ctx.fail(`axis '${letter}' is ${seen} in one operand and ${dim} in another`);
  }
  return unifyDims(seen, dim);
}

/** Without '->': the ellipsis, then the letters used once, in alphabetical order. */
function implicitOutput(terms: EinsumTerm[]): EinsumTerm {
  const counts = new Map<string, number>();
  for (const term of terms)
    for (const letter of term.letters) counts.set(letter, (counts.get(letter) ?? 0) + 1);
  const letters = [...counts]
    .filter(([, n]) => n === 1)
    .map(([letter]) => letter)
    .sort();
  return { letters, ellipsisAt: terms.some((t) => t.ellipsisAt >= 0) ? 0 : -1 };
}

function determinant(ctx: RuleContext): (TensorType | undefined)[] {
  const x = ctx.shape(0);
  if (x && x.length < 2) ctx.fail(`Det takes matrices, got ${formatShape(x)}`);
  if (x && !dimsCompatible(x[x.length - 1]!, x[x.length - 2]!)) {
    ctx.fail(`Det takes square matrices, got ${formatShape(x)}`);
  }
  return [tensorType(ctx.elemType(0), x?.slice(0, -2))];
}

export const rules: InferenceRule[] = [
  { op: 'MatMul', infer: matmulOf(0, 1, (ctx) => ctx.elemType(0)) },
  { op: 'MatMulInteger', infer: matmulOf(0, 1, () => 'int32') },
  // The result is quantized like its zero point (input 7).
  { op: 'QLinearMatMul', infer: matmulOf(0, 3, (ctx) => ctx.elemType(7)) },
  { op: 'Gemm', infer: gemm },
  { op: 'Einsum', infer: einsum },
  { op: 'Det', infer: determinant },
];
