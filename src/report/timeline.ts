/**
 * The timeline: the profile's representative run (the steady run of median duration) as an SVG
 * chart with one lane per track (the telemetry layout adds lanes only where a device runs kernels
 * that overlap without nesting), each step a rectangle coloured by its operator type and a step
 * nested in another (a subgraph's body) drawn inset inside it. The profile's idle gaps are hatched
 * on their track, worker states run as a thin strip under their lane, and every mark carries a
 * hover title. The spans come from the trace; without one the section says how to get it.
 */

import type { Profile } from '../profile/index.js';
import { layoutTrace, type Lane, type PlacedSpan } from '../telemetry/layout.js';
import type { Span, Trace } from '../telemetry/trace.js';
import { frameBottom, svgChart, tooltip, xAxis, type Frame } from './chart.js';
import { OTHER_COLOUR, gapColour, shortOp, stateColour, type OpColours } from './colours.js';
import { formatMs, formatPercent, formatTime } from './format.js';
import { html, type Html } from './html.js';
import { linearScale, type Scale } from './scale.js';

const WIDTH = 1120;
const LABEL_WIDTH = 150;
const LANE_HEIGHT = 30;
const STATE_STRIP = 5;
const NEST_INSET = 5;
/** Narrower steps still get this width, so a run of many tiny steps stays visible. */
const MIN_STEP_WIDTH = 0.6;

const DRAWN_CATEGORIES: ReadonlySet<string> = new Set(['step', 'copy', 'compile']);

export function timelineSection(profile: Profile, trace: Trace | undefined, colours: OpColours): Html {
  const run = trace && representativeRun(profile, trace);
  const body = !trace
    ? html`<p class="note">No trace was given, so there is no timeline: render the report from the session's trace as well as its profile.</p>`
    : !run
      ? html`<p class="note">The trace holds ${runSpans(trace).length} runs but the profile counts ${profile.runs.durationsUs.length}: they are not from the same session, so no run is drawn.</p>`
      : timelineChart(profile, trace, run, colours);
  return html`<section id="timeline">
    <h2>Timeline of run ${profile.runs.representative + 1}</h2>
    <p class="lead">The steady run of median duration${run ? html` (${formatTime(run.end - run.start)})` : ''}, one lane per track. Hover a step for its node, time and shapes; hatched intervals are the largest idle gaps.</p>
    ${body}
  </section>`;
}

function runSpans(trace: Trace): Span[] {
  return trace.spans.filter((s) => s.category === 'run').sort((a, b) => a.start - b.start);
}

function representativeRun(profile: Profile, trace: Trace): Span | undefined {
  const runs = runSpans(trace);
  return runs.length === profile.runs.durationsUs.length ? runs[profile.runs.representative] : undefined;
}

function timelineChart(profile: Profile, trace: Trace, run: Span, colours: OpColours): Html {
  const inside = (s: Span) => s.start >= run.start && s.end <= run.end;
  const drawn = trace.spans.filter((s) => DRAWN_CATEGORIES.has(s.category) && inside(s));
  const states = trace.spans.filter((s) => s.category === 'state' && inside(s));
  const lanes = layoutTrace({ tracks: trace.tracks, spans: drawn, counters: [] }).lanes;
  const frame: Frame = { left: LABEL_WIDTH, top: 8, width: WIDTH - LABEL_WIDTH - 16, height: lanes.length * LANE_HEIGHT };
  const duration = run.end - run.start;
  const x = linearScale(duration, [frame.left, frame.left + frame.width], 10);
  const statesByTrack = groupBy(states, (s) => s.track);
  const utilisation = new Map(profile.tracks.map((t) => [t.track, t.utilisation]));
  const firstLaneOf = new Map<string, number>();
  lanes.forEach((lane, i) => {
    if (!firstLaneOf.has(lane.track.name)) firstLaneOf.set(lane.track.name, i);
  });
  const laneTop = (i: number) => frame.top + i * LANE_HEIGHT;
  const height = frameBottom(frame) + 48;
  const chart = svgChart(
    'timeline',
    WIDTH,
    height,
    `timeline of run ${profile.runs.representative + 1}`,
    html`${xAxis(x, frame, formatMs, 'time since the run started (ms)')}
    ${lanes.map((lane, i) =>
      laneMarks(lane, laneTop(i), x, run, colours, duration, i === firstLaneOf.get(lane.track.name), {
        utilisation: utilisation.get(lane.track.name),
        states: i === firstLaneOf.get(lane.track.name) ? (statesByTrack.get(lane.track.name) ?? []) : [],
      }),
    )}
    ${profile.gaps.map((gap) => {
      const lane = firstLaneOf.get(gap.track);
      if (lane === undefined) return '';
      const left = x(gap.startUs);
      return html`<rect class="gap" x="${left}" y="${laneTop(lane) + 3}" width="${Math.max(MIN_STEP_WIDTH, x(gap.startUs + gap.durationUs) - left)}" height="${LANE_HEIGHT - 6 - STATE_STRIP}" fill="url(#gap-hatch)" stroke="${gapColour(gap.cause)}">${tooltip([
        `idle ${formatTime(gap.durationUs)} at ${formatTime(gap.startUs)} on ${gap.track}`,
        `cause: ${gap.cause}`,
        gap.detail,
      ])}</rect>`;
    })}
    <defs><pattern id="gap-hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#fff"/><line x1="0" y1="0" x2="0" y2="6" stroke="#9aa5b1" stroke-width="2"/></pattern></defs>`,
  );
  return html`<div class="chart-frame">${chart}</div>${legend(drawn, states, colours)}`;
}

interface LaneExtras {
  utilisation?: number;
  states: Span[];
}

function laneMarks(
  lane: Lane,
  top: number,
  x: Scale,
  run: Span,
  colours: OpColours,
  duration: number,
  firstOfTrack: boolean,
  extras: LaneExtras,
): Html {
  const barBottom = top + LANE_HEIGHT - 3 - STATE_STRIP;
  const open: PlacedSpan[] = [];
  const steps = lane.spans.map((placed) => {
    while (open.length > 0 && open[open.length - 1]!.span.end <= placed.span.start) open.pop();
    const depth = open.length;
    open.push(placed);
    const inset = Math.min(depth * NEST_INSET, (LANE_HEIGHT - 14) / 2);
    const left = x(placed.span.start - run.start);
    const width = Math.max(MIN_STEP_WIDTH, x(placed.span.end - run.start) - left);
    return html`<rect class="step" x="${left}" y="${top + 3 + inset}" width="${width}" height="${barBottom - top - 3 - 2 * inset}" fill="${colours.of(opOf(placed.span))}">${tooltip(stepTitle(placed.span, run, duration))}</rect>`;
  });
  const busy = extras.utilisation === undefined ? '' : `${formatPercent(extras.utilisation)} busy`;
  return html`<g class="lane" data-track="${lane.track.name}">
    <rect class="lane-bg" x="${x.range[0]}" y="${top + 1}" width="${x.range[1] - x.range[0]}" height="${LANE_HEIGHT - 2}"/>
    <text class="lane-label" x="8" y="${top + 14}">${lane.name}</text>
    ${firstOfTrack ? html`<text class="lane-note" x="8" y="${top + 26}">${lane.track.kind}${busy ? ` · ${busy}` : ''}</text>` : ''}
    ${steps}
    ${extras.states.map((s) => {
      const left = x(s.start - run.start);
      return html`<rect class="state" x="${left}" y="${barBottom + 1}" width="${Math.max(MIN_STEP_WIDTH, x(s.end - run.start) - left)}" height="${STATE_STRIP}" fill="${stateColour(s.name)}">${tooltip([`${s.name} ${formatTime(s.end - s.start)}`])}</rect>`;
    })}
  </g>`;
}

function opOf(span: Span): string {
  if (span.category !== 'step') return span.category;
  const op = span.args?.op;
  return typeof op === 'string' ? op : span.name;
}

function stepTitle(span: Span, run: Span, duration: number): string[] {
  const args = span.args ?? {};
  const took = span.end - span.start;
  const when = `${formatTime(took)} (${formatPercent(took / duration)} of the run), from ${formatTime(span.start - run.start)}`;
  if (span.category === 'copy') {
    return [`copy of ${String(args.value ?? '?')}`, `${String(args.from ?? '?')} → ${String(args.to ?? '?')}`, when];
  }
  const lines = [`${String(args.node ?? span.name)} · ${opOf(span)}`, when];
  if (args.backend !== undefined) lines.push(`backend ${String(args.backend)}`);
  if (Array.isArray(args.inputs)) lines.push(`inputs ${args.inputs.join(' ')}`);
  if (Array.isArray(args.outputs)) lines.push(`outputs ${args.outputs.join(' ')}`);
  return lines;
}

function legend(drawn: readonly Span[], states: readonly Span[], colours: OpColours): Html {
  const present = new Set(drawn.map(opOf));
  const named = colours.named.filter(({ op }) => present.has(op));
  const others = [...present].some((op) => !named.some((n) => n.op === op));
  const stateNames = [...new Set(states.map((s) => s.name))];
  return html`<ul class="legend">
    ${named.map(({ op, colour }) => html`<li><span class="swatch" style="background:${colour}"></span>${shortOp(op)}</li>`)}
    ${others ? html`<li><span class="swatch" style="background:${OTHER_COLOUR}"></span>other operators</li>` : ''}
    ${stateNames.map((name) => html`<li><span class="swatch state" style="background:${stateColour(name)}"></span>${name}</li>`)}
    <li><span class="swatch hatch"></span>idle gap</li>
  </ul>`;
}

function groupBy<T>(items: readonly T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const list = groups.get(key(item));
    if (list) list.push(item);
    else groups.set(key(item), [item]);
  }
  return groups;
}
