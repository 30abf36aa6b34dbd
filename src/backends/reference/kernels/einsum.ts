/**
 * Einsum: the Einstein summation of any number of operands written as an equation such as
 * `bij,bjk->bik`. The equation is parsed into labels (letters, plus one label per axis the `...`
 * ellipsis stands for); every label gets one size and, in each operand, one stride (the sum of the
 * strides of the axes it names, which reads a diagonal when a label repeats). The product is then
 * one walk over every combination of label values, adding the operands' product into the output
 * element its output labels address. Labels absent from the output are summed over. The sums are
 * taken straight in the kernel's output memory.
 */

import type { DataType } from '../../../core/dtype.js';
import type { Tensor } from '../../../core/tensor.js';
import type { KernelContext, KernelDef } from '../kernel.js';
import { floatSink, shapeSize, stridesOf, toNumbers } from '../util.js';

const EINSUM_TYPES: ReadonlySet<DataType> = new Set([
  'float32',
  'float64',
  'float16',
  'bfloat16',
  'int8',
  'int16',
  'int32',
  'int64',
  'uint8',
  'uint16',
  'uint32',
  'uint64',
]);

const ELLIPSIS = '...';

/** One side of the equation split into letters, with where (if anywhere) its ellipsis sits. */
interface Term {
  letters: string[];
  /** Index in `letters` before which the ellipsis axes come, or -1 without an ellipsis. */
  ellipsisAt: number;
}

function parseTerm(ctx: KernelContext, text: string): Term {
  const parts = text.split(ELLIPSIS);
  if (parts.length > 2) ctx.fail(`'${text}' has more than one ellipsis`);
  const letters = parts.join('').split('');
  for (const letter of letters) {
    if (!/^[a-zA-Z]$/.test(letter)) ctx.fail(`'${letter}' in '${text}' is not a subscript letter`);
  }
  return { letters, ellipsisAt: parts.length === 2 ? parts[0]!.length : -1 };
}

/** The labels of each axis of a term: letters as themselves, ellipsis axes as '0', '1', ... from the left. */
function axisLabels(term: Term, ellipsisRank: number, totalEllipsisRank: number): string[] {
  if (term.ellipsisAt < 0) return term.letters;
  const skipped = totalEllipsisRank - ellipsisRank;
  const ellipsis = Array.from({ length: ellipsisRank }, (_, i) => String(skipped + i));
  return [...term.letters.slice(0, term.ellipsisAt), ...ellipsis, ...term.letters.slice(term.ellipsisAt)];
}

/** numpy's implicit output: the ellipsis axes, then the letters used exactly once, alphabetically. */
function implicitOutput(inputs: Term[]): Term {
  const counts = new Map<string, number>();
  for (const term of inputs) for (const l of term.letters) counts.set(l, (counts.get(l) ?? 0) + 1);
  const once = [...counts].filter(([, n]) => n === 1).map(([l]) => l);
  once.sort();
  return { letters: once, ellipsisAt: inputs.some((t) => t.ellipsisAt >= 0) ? 0 : -1 };
}

function einsum(ctx: KernelContext): Tensor {
  const operands = ctx.inputs.map((_, i) => ctx.input(i));
  if (operands.length === 0) ctx.fail('Einsum needs at least one input');
  const type = operands[0]!.type;
  if (!EINSUM_TYPES.has(type)) ctx.fail(`Einsum does not support ${type}`);
  if (operands.some((t) => t.type !== type)) ctx.fail('Einsum inputs must all have the same type');

  const equation = ctx.string('equation').replace(/\s/g, '');
  const arrow = equation.indexOf('->');
  const inputText = arrow < 0 ? equation : equation.slice(0, arrow);
  const inputTerms = inputText.split(',').map((t) => parseTerm(ctx, t));
  if (inputTerms.length !== operands.length) {
    ctx.fail(`equation '${equation}' has ${inputTerms.length} input terms for ${operands.length} inputs`);
  }
  const outputTerm = arrow < 0 ? implicitOutput(inputTerms) : parseTerm(ctx, equation.slice(arrow + 2));

  const ellipsisRanks = inputTerms.map((term, i) => {
    const extra = operands[i]!.dims.length - term.letters.length;
    if (term.ellipsisAt < 0 ? extra !== 0 : extra < 0) {
      ctx.fail(
        `term '${inputText.split(',')[i]}' does not match input ${i} of rank ${operands[i]!.dims.length}`,
      );
    }
    return extra;
  });
  const ellipsisRank = Math.max(0, ...ellipsisRanks);

  // Sizes per label; ellipsis axes broadcast numpy-style (size 1 stretches), letters must agree.
  const sizes = new Map<string, number>();
  const operandLabels = inputTerms.map((term, i) => axisLabels(term, ellipsisRanks[i]!, ellipsisRank));
  operandLabels.forEach((labels, i) => {
    labels.forEach((label, axis) => {
      const size = operands[i]!.dims[axis]!;
      const known = sizes.get(label);
      const isEllipsis = /^\d/.test(label);
      if (known === undefined || (isEllipsis && known === 1)) sizes.set(label, size);
      else if (known !== size && !(isEllipsis && size === 1)) {
        ctx.fail(
          `subscript '${isEllipsis ? ELLIPSIS : label}' has sizes ${known} and ${size} in different places`,
        );
      }
    });
  });

  const outputLabels = axisLabels(outputTerm, ellipsisRank, ellipsisRank);
  if (new Set(outputLabels).size !== outputLabels.length) {
    ctx.fail(`output of '${equation}' repeats a subscript`);
  }
  for (const label of outputLabels) {
    if (!sizes.has(label)) ctx.fail(`output subscript '${label}' of '${equation}' appears in no input`);
  }
  const summedLabels = [...sizes.keys()].filter((l) => !outputLabels.includes(l));
  const loopLabels = [...outputLabels, ...summedLabels];
  const loopSizes = loopLabels.map((l) => sizes.get(l)!);
  const outDims = outputLabels.map((l) => sizes.get(l)!);

  // Stride of every loop label in every operand (0 where the operand lacks it or broadcasts it).
  const operandStrides = operandLabels.map((labels, i) => {
    const dims = operands[i]!.dims;
    const axisStrides = stridesOf(dims);
    return loopLabels.map((label) =>
      labels.reduce((sum, l, axis) => (l === label && dims[axis] !== 1 ? sum + axisStrides[axis]! : sum), 0),
    );
  });
  const outAxisStrides = stridesOf(outDims);
  const outStrides = loopLabels.map((_, i) => (i < outputLabels.length ? outAxisStrides[i]! : 0));

  const values = operands.map((t) => toNumbers(t));
  const termsPerOutput = shapeSize(loopSizes.slice(outputLabels.length));
  const sink = floatSink(ctx.output(0, type, outDims));
  sumProducts(sink.values, outStrides, values, operandStrides, loopSizes, termsPerOutput);
  return sink.finish();
}

/**
 * Walks every combination of loop indices, keeping each operand's flat offset up to date as it goes.
 * The summed labels come last in the loop, so each output element's terms are consecutive: they are
 * added up in float64 and the sum is stored once they are done (`termsPerOutput` of them).
 */
function sumProducts(
  out: Float32Array | Float64Array,
  outStrides: number[],
  values: ArrayLike<number>[],
  operandStrides: number[][],
  loopSizes: number[],
  termsPerOutput: number,
): void {
  const iterations = shapeSize(loopSizes);
  if (iterations === 0) {
    out.fill(0);
    return;
  }
  const rank = loopSizes.length;
  const counter = new Array<number>(rank).fill(0);
  const offsets = new Array<number>(values.length).fill(0);
  let outOffset = 0;
  let sum = 0;
  for (let step = 1; step <= iterations; step++) {
    let product = 1;
    for (let v = 0; v < values.length; v++) product *= values[v]![offsets[v]!]!;
    sum += product;
    if (step % termsPerOutput === 0) {
      out[outOffset] = sum;
      sum = 0;
    }
    for (let axis = rank - 1; axis >= 0; axis--) {
      counter[axis]!++;
      outOffset += outStrides[axis]!;
      for (let v = 0; v < values.length; v++) offsets[v]! += operandStrides[v]![axis]!;
      if (counter[axis]! < loopSizes[axis]!) break;
      counter[axis] = 0;
      outOffset -= outStrides[axis]! * loopSizes[axis]!;
      for (let v = 0; v < values.length; v++) offsets[v]! -= operandStrides[v]![axis]! * loopSizes[axis]!;
    }
  }
}

export const kernels: KernelDef[] = [{ op: 'Einsum', since: 12, run: (ctx) => [einsum(ctx)] }];
