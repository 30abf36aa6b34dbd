/**
 * The rule table: every family's rules keyed by domain and operator, looked up per node.
 */

import { DEFAULT_DOMAIN } from '../graph.js';
import type { InferenceRule } from './rule.js';
import { rules as attention } from './attention.js';
import { rules as binary } from './binary.js';
import { rules as cast } from './cast.js';
import { rules as controlFlow } from './control-flow.js';
import { rules as conv } from './conv.js';
import { rules as elementwise } from './elementwise.js';
import { rules as fused } from './fused.js';
import { rules as gather } from './gather.js';
import { rules as generators } from './generators.js';
import { rules as image } from './image.js';
import { rules as loss } from './loss.js';
import { rules as matmul } from './matmul.js';
import { rules as ml } from './ml.js';
import { rules as normalization } from './normalization.js';
import { rules as pool } from './pool.js';
import { rules as quantize } from './quantize.js';
import { rules as reduce } from './reduce.js';
import { rules as resize } from './resize.js';
import { rules as rnn } from './rnn.js';
import { rules as scatter } from './scatter.js';
import { rules as selection } from './selection.js';
import { rules as sequence } from './sequence.js';
import { rules as shape } from './shape.js';
import { rules as signal } from './signal.js';
import { rules as slicing } from './slicing.js';
import { rules as string } from './string.js';
import { rules as training } from './training.js';

const ALL_RULES: readonly InferenceRule[] = [
  ...elementwise,
  ...binary,
  ...cast,
  ...matmul,
  ...conv,
  ...pool,
  ...normalization,
  ...reduce,
  ...shape,
  ...slicing,
  ...gather,
  ...scatter,
  ...selection,
  ...generators,
  ...resize,
  ...rnn,
  ...controlFlow,
  ...sequence,
  ...quantize,
  ...attention,
  ...signal,
  ...string,
  ...loss,
  ...image,
  ...ml,
  ...training,
  ...fused,
];

const key = (domain: string, op: string) => `${domain}\u0000${op}`;

const TABLE: ReadonlyMap<string, InferenceRule> = new Map(
  ALL_RULES.map((rule) => [key(rule.domain ?? DEFAULT_DOMAIN, rule.op), rule]),
);

export function findRule(domain: string, op: string): InferenceRule | undefined {
  return TABLE.get(key(domain, op));
}
