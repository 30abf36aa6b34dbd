/**
 * One colour per operator type across every chart and table of a report, so a Conv is the same
 * blue in the timeline, the roofline and the table. The types that take the most time get the
 * palette's colours in order (the palette is Tableau's ten, which stay distinguishable for most
 * colour-blind readers); the long tail of cheap types shares one grey, and copies and compilation,
 * which are not operators, have fixed neutral colours of their own. Idle gaps and worker states
 * have colours by cause and state.
 */

import type { GapCause, Profile } from '../profile/index.js';

const PALETTE = [
  '#4e79a7',
  '#f28e2b',
  '#59a14f',
  '#e15759',
  '#76b7b2',
  '#edc948',
  '#b07aa1',
  '#ff9da7',
  '#9c755f',
  '#86bcb6',
];

export const OTHER_COLOUR = '#b8b8b8';
const FIXED: Record<string, string> = { copy: '#52606d', compile: '#323f4b', gc: '#e8590c' };

export interface OpColours {
  /** The colour of an op label ('Conv', 'com.heddle::FusedConv', 'copy'). */
  of(op: string): string;
  /** The op types with colours of their own, most time first, for a legend. */
  named: { op: string; colour: string }[];
}

export function opColours(profile: Profile): OpColours {
  const timeByOp = new Map<string, number>();
  for (const row of profile.operators) timeByOp.set(row.op, (timeByOp.get(row.op) ?? 0) + row.totalUs);
  const ranked = [...timeByOp.entries()]
    .filter(([op]) => !(op in FIXED))
    .sort((a, b) => b[1] - a[1])
    .map(([op]) => op);
  const assigned = new Map(ranked.slice(0, PALETTE.length).map((op, i) => [op, PALETTE[i]!]));
  const named = [...assigned].map(([op, colour]) => ({ op, colour }));
  for (const op of Object.keys(FIXED)) if (timeByOp.has(op)) named.push({ op, colour: FIXED[op]! });
  return {
    of: (op) => FIXED[op] ?? assigned.get(op) ?? OTHER_COLOUR,
    named,
  };
}

const GAP_COLOURS: Record<GapCause, string> = {
  dependency: '#d64545',
  'main thread': '#7b8794',
  copy: '#52606d',
  compilation: '#9446ed',
  'garbage collection': '#e8590c',
};

const STATE_COLOURS: Record<string, string> = {
  running: '#3f9142',
  spinning: '#f0b429',
  parked: '#cbd2d9',
  'waiting on a dependency': '#d64545',
};

export function gapColour(cause: GapCause): string {
  return GAP_COLOURS[cause] ?? OTHER_COLOUR;
}

export function stateColour(state: string): string {
  return STATE_COLOURS[state] ?? OTHER_COLOUR;
}

/** 'com.heddle::FusedConv' → 'FusedConv': the domain adds nothing a chart label needs. */
export function shortOp(op: string): string {
  const at = op.lastIndexOf('::');
  return at < 0 ? op : op.slice(at + 2);
}
