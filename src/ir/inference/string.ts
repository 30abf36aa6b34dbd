/**
 * Rules for the text operators: StringConcat (broadcasting), RegexFullMatch (booleans), StringSplit
 * (substrings padded to the longest split, whose count depends on the data), StringNormalizer
 * (stopwords remove an unknown number of strings) and TfIdfVectorizer (one column per n-gram index).
 */

import { broadcastShapes, tensorType, withDim } from './dims.js';
import type { InferenceRule, InferredTypes, RuleContext } from './rule.js';

function stringConcat(ctx: RuleContext): InferredTypes {
  return [tensorType('string', broadcastShapes([ctx.shape(0), ctx.shape(1)], ctx.fail))];
}

function stringSplit(ctx: RuleContext): InferredTypes {
  const x = ctx.shape(0);
  return [tensorType('string', x && [...x, null]), tensorType('int64', x)];
}

function stringNormalizer(ctx: RuleContext): InferredTypes {
  const x = ctx.shape(0);
  const removes = ctx.strings('stopwords')?.length;
  if (!x || !removes) return [tensorType('string', x)];
  return [tensorType('string', withDim(x, x.length - 1, null))];
}

function tfIdfVectorizer(ctx: RuleContext): InferredTypes {
  const x = ctx.shape(0);
  const indexes = ctx.ints('ngram_indexes') ?? [];
  const width = indexes.length > 0 ? Math.max(...indexes) + 1 : 0;
  if (!x) return [tensorType('float32')];
  return [tensorType('float32', x.length === 1 ? [width] : [x[0]!, width])];
}

export const rules: InferenceRule[] = [
  { op: 'StringConcat', infer: stringConcat },
  { op: 'RegexFullMatch', infer: (ctx) => [tensorType('bool', ctx.shape(0))] },
  { op: 'StringSplit', infer: stringSplit },
  { op: 'StringNormalizer', infer: stringNormalizer },
  { op: 'TfIdfVectorizer', infer: tfIdfVectorizer },
];
