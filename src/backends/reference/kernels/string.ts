/**
 * String operators: StringNormalizer (stop-word removal and case change), StringSplit (Python's
 * str.split), StringConcat (with broadcasting) and RegexFullMatch. ONNX specifies RE2 syntax for
 * RegexFullMatch; Heddle compiles the pattern as an ECMAScript RegExp in Unicode mode, which agrees
 * with RE2 on the common syntax (classes, groups, alternation, quantifiers, \b, \w, \d, \s).
 */

import type { Tensor } from '../../../core/tensor.js';
import type { KernelContext, KernelDef } from '../kernel.js';
import { broadcastIndex, broadcastShapes } from '../util.js';

function stringInput(ctx: KernelContext, i: number): Tensor {
  const t = ctx.input(i);
  if (t.type !== 'string') ctx.fail(`input ${i} must be a string tensor, got ${t.type}`);
  return t;
}

/**
 * Drops the elements of a [C] or [1, C] tensor that are stop words, then changes case. A tensor
 * left empty becomes a single empty string, of dims [1] or [1, 1].
 */
function stringNormalizer(ctx: KernelContext): Tensor {
  const x = stringInput(ctx, 0);
  const isMatrix = x.dims.length === 2;
  if (!(x.dims.length === 1 || (isMatrix && x.dims[0] === 1))) {
    ctx.fail(`StringNormalizer takes a [C] or [1, C] tensor, got dims [${x.dims.join(', ')}]`);
  }
  const caseSensitive = ctx.int('is_case_sensitive', 0) !== 0;
  const fold = (s: string): string => (caseSensitive ? s : s.toLowerCase());
  const stopwords = new Set(ctx.strings('stopwords', []).map(fold));
  const changeCase = caseChanger(ctx, ctx.string('case_change_action', 'NONE'));
  const kept = (x.data as string[]).filter((s) => !stopwords.has(fold(s))).map(changeCase);
  if (kept.length === 0) kept.push('');
  const out = ctx.output(0, 'string', isMatrix ? [1, kept.length] : [kept.length]);
  (out.data as string[]).splice(0, kept.length, ...kept);
  return out;
}

function caseChanger(ctx: KernelContext, action: string): (s: string) => string {
  switch (action) {
    case 'NONE':
      return (s) => s;
    case 'LOWER':
      return (s) => s.toLowerCase();
    case 'UPPER':
      return (s) => s.toUpperCase();
    default:
      return ctx.fail(`case_change_action must be NONE, LOWER or UPPER, got '${action}'`);
  }
}

/**
 * Python's str.split: with a delimiter, every occurrence splits (empty pieces kept); without one,
 * runs of whitespace split and leading or trailing whitespace yields no piece. At most `maxSplits`
 * splits are made; the rest of the string is the last piece.
 */
function splitString(text: string, delimiter: string, maxSplits: number): string[] {
  if (delimiter !== '') {
    const pieces: string[] = [];
    let start = 0;
    for (
      let at = text.indexOf(delimiter);
      at >= 0 && pieces.length < maxSplits;
      at = text.indexOf(delimiter, start)
    ) {
      pieces.push(text.slice(start, at));
      start = at + delimiter.length;
    }
    pieces.push(text.slice(start));
    return pieces;
  }
  const pieces: string[] = [];
  let rest = text.trimStart();
  while (rest !== '') {
    const gap = pieces.length < maxSplits ? /\s+/.exec(rest) : null;
    if (!gap) {
      pieces.push(rest);
      break;
    }
    pieces.push(rest.slice(0, gap.index));
    rest = rest.slice(gap.index + gap[0].length);
  }
  return pieces;
}

/** Splits every element; pieces fill a new last axis as wide as the longest split, padded with ''. */
function stringSplit(ctx: KernelContext): Tensor[] {
  const x = stringInput(ctx, 0);
  const delimiter = ctx.string('delimiter', '');
  const maxSplits = ctx.has('maxsplit') ? ctx.int('maxsplit') : Infinity;
  if (maxSplits < 0) ctx.fail(`maxsplit must not be negative, got ${maxSplits}`);
  const splits = (x.data as string[]).map((text) => splitString(text, delimiter, maxSplits));
  const width = splits.reduce((widest, pieces) => Math.max(widest, pieces.length), 0);
  const substrings = ctx.output(0, 'string', [...x.dims, width]);
  const cells = substrings.data as string[];
  splits.forEach((pieces, i) => {
    for (let j = 0; j < width; j++) cells[i * width + j] = pieces[j] ?? '';
  });
  const lengths = ctx.output(1, 'int64', x.dims);
  splits.forEach((pieces, i) => ((lengths.data as BigInt64Array)[i] = BigInt(pieces.length)));
  return [substrings, lengths];
}

function stringConcat(ctx: KernelContext): Tensor {
  const x = stringInput(ctx, 0);
  const y = stringInput(ctx, 1);
  const dims = broadcastShapes([x.dims, y.dims], (r) => ctx.fail(r));
  const xOf = broadcastIndex(x.dims, dims);
  const yOf = broadcastIndex(y.dims, dims);
  const xs = x.data as string[];
  const ys = y.data as string[];
  const out = ctx.output(0, 'string', dims);
  xOf.forEach((xi, i) => ((out.data as string[])[i] = xs[xi]! + ys[yOf[i]!]!));
  return out;
}

function regexFullMatch(ctx: KernelContext): Tensor {
  const x = stringInput(ctx, 0);
  const pattern = ctx.string('pattern');
  let regex: RegExp;
  try {
    // Anchoring the whole alternation makes a search into a full match.
    regex = new RegExp(`^(?:${pattern})$`, 'u');
  } catch (error) {
    ctx.fail(`the pattern /${pattern}/ is not supported: ${(error as Error).message}`);
  }
  const out = ctx.output(0, 'bool', x.dims);
  (x.data as string[]).forEach((s, i) => ((out.data as Uint8Array)[i] = regex.test(s) ? 1 : 0));
  return out;
}

export const kernels: KernelDef[] = [
  { op: 'StringNormalizer', since: 10, run: (ctx) => [stringNormalizer(ctx)] },
  { op: 'StringSplit', since: 20, run: stringSplit },
  { op: 'StringConcat', since: 20, run: (ctx) => [stringConcat(ctx)] },
  { op: 'RegexFullMatch', since: 20, run: (ctx) => [regexFullMatch(ctx)] },
];
