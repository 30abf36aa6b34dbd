/**
 * Small pieces the report's sections share: figure cards, share bars in table cells, names that
 * wrap at their path's slashes, the colour chip that names an operator type everywhere it
 * appears, the noun for what one row of the operator table is, and the ceiling a row's
 * percentage of peak is of.
 */

import { peaksOfRow, threadCount, type OperatorRow, type Profile } from '../profile/index.js';
import { shortOp, type OpColours } from './colours.js';
import { formatPercent } from './format.js';
import { html, type Html } from './html.js';

/** A headline figure with its name above and what it counts below. */
export function card(title: string, value: string, detail: string): Html {
  return html`<div class="card">
    <div class="card-title">${title}</div>
    <div class="card-value">${value}</div>
    <div class="card-detail">${detail}</div>
  </div>`;
}

/** A percentage with a bar of that length, for share columns. */
export function shareBar(fraction: number, colour?: string): Html {
  const width = Math.max(0, Math.min(1, fraction)) * 100;
  const fill = colour ? html`;background:${colour}` : '';
  return html`<span class="share"
    ><span class="share-bar"><span style="width:${width}%${fill}"></span></span
    ><span class="share-value">${formatPercent(fraction)}</span></span
  >`;
}

/**
 * A node or value name that may wrap after each '/' of its path: exported names such as
 * '/blocks.0/attention/query_key_value/MatMul' are longer than a table column.
 */
export function pathName(name: string): Html {
  const parts = name.split('/');
  return html`${parts.map((part, i) => (i === 0 ? part : html`/<wbr />${part}`))}`;
}

/** The op type's colour and its name without the domain (the full label on hover). */
export function opChip(op: string, colours: OpColours): Html {
  return html`<span class="op" title="${op}"
    ><span class="swatch" style="background:${colours.of(op)}"></span>${shortOp(op)}</span
  >`;
}

const GROUP_NOUNS: Record<Profile['groupBy'], [string, string]> = {
  node: ['node', 'nodes'],
  op: ['operator type', 'operator types'],
  'op+shape': ['operator at given input shapes', 'operators at given input shapes'],
};

/** What one row of the profile's operator table is, for sentences about `count` of them. */
export function groupNoun(profile: Profile, count = 1): string {
  const [one, many] = GROUP_NOUNS[profile.groupBy];
  return count === 1 ? one : many;
}

/** The ceiling a placed row's percentage is of: "compute peak on 2 threads", "L2 bandwidth on 1 thread". */
export function peakName(row: OperatorRow, profile: Profile): string {
  const ceiling = row.bound === 'compute' ? 'compute peak' : `${row.memoryLevel ?? 'memory'} bandwidth`;
  const peaks = peaksOfRow(profile, row);
  return peaks ? `${ceiling} on ${threadCount(peaks.threads)}` : ceiling;
}
