/**
 * Rules for the recurrent layers RNN, GRU and LSTM: Y holds every step's hidden state, Y_h (and
 * LSTM's Y_c) the last one, per direction; `layout` (opset 14) puts the batch first.
 */

import type { Dim } from '../graph.js';
import { rulesFor } from './common.js';
import { tensorType } from './dims.js';
import type { InferenceRule, InferredTypes, RuleContext } from './rule.js';

function recurrent(ctx: RuleContext): InferredTypes {
  const x = ctx.shape(0);
  const w = ctx.shape(1);
  const batchFirst = ctx.int('layout', 0) !== 0;
  const [sequence, batch]: Dim[] = x ? (batchFirst ? [x[1]!, x[0]!] : [x[0]!, x[1]!]) : [null, null];
  const directions = ctx.string('direction', 'forward') === 'bidirectional' ? 2 : 1;
  if (w && typeof w[0] === 'number' && w[0] !== directions) {
    ctx.fail(`W holds weights for ${w[0]} directions, the node runs ${directions}`);
  }
  // R is [directions, gates * hidden, hidden] when hidden_size is not given.
  const hidden = ctx.has('hidden_size') ? ctx.int('hidden_size', 0) : (ctx.shape(2)?.[2] ?? null);
  const all = batchFirst ? [batch, sequence, directions, hidden] : [sequence, directions, batch, hidden];
  const last = batchFirst ? [batch, directions, hidden] : [directions, batch, hidden];
  const elemType = ctx.elemType(0);
  return [tensorType(elemType, all), tensorType(elemType, last), tensorType(elemType, last)];
}

export const rules: InferenceRule[] = rulesFor(['RNN', 'GRU', 'LSTM'], { infer: recurrent });
