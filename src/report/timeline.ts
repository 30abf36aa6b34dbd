/**
 * The timeline: the profile's representative run (the steady run of median duration) as an SVG
 * chart with one lane per track (the telemetry layout adds lanes only where a device runs kernels
 * that overlap without nesting), each step a rectangle coloured by its operator type and a step
 * nested in another (a subgraph's body) drawn inset inside it, garbage collections that paused
 * the calling thread likewise (inside the step they paused, or between steps). The profile's idle
 * gaps are hatched on their track, worker states run as a thin strip under their lane, and every
 * mark carries a hover title. The spans come from the trace; without one the section says how to get it.
 */

import type { IdleGap, Profile } from '../profile/index.js';
import { layoutTrace, type Lane } from '../telemetry/layout.js';
import type { Span, Trace } from '../telemetry/trace.js';
import { frameBottom, svgChart, tooltip, xAxis, type Frame } from './chart.js';
import { OTHER_COLOUR, gapColour, shortOp, stateColour, type OpColours } from './colours.js';
import { formatMs, formatPercent, formatTime } from './format.js';
import { html, type Html } from './html.js';
import { linearScale, type Scale } from './scale.js';

const WIDTH = 1120;
const LABEL_WIDTH = 150;
const LANE_HEIGHT = 36;
const STATE_STRIP = 5;
const NEST_INSET = 5;
/** Narrower steps still get this width, so a run of many tiny steps stays visible. */
const MIN_STEP_WIDTH = 0.6;

const DRAWN_CATEGORIES: ReadonlySet<string> = new Set(['step', 'copy', 'compile', 'gc']);

export function timelineSection(profile: Profile, trace: Trace | undefined, colours: OpColours): Html {
  const run = trace && representativeRun(profile, trace);
  const body = !trace
    ? html`<p class="note">
        No trace was given, so there is no timeline: render the report from the session's trace as well as its
        profile.
      </p>`
    : !run
      ? html`<p class="note">
          The trace holds ${runSpans(trace).length} runs but the profile counts
          ${profile.runs.durationsUs.length}: they are not from the same session, so no run is drawn.
        </p>`
      : timelineChart(profile, trace, run, colours);
  return html`<section id="timeline">
    <h2>Timeline of run ${profile.runs.representative + 1}</h2>
    <p class="lead">
      The steady run of median duration${run ? html` (${formatTime(run.end - run.start)})` : ''}, one lane per
      track. Hover a step for its node, time and shapes; hatched intervals are the largest idle gaps.
    </p>
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

/** What every mark of the chart needs: the run, its time scale and the operator colours. */
interface RunView {
  run: Span;
  x: Scale;
  colours: OpColours;
}

function timelineChart(profile: Profile, trace: Trace, run: Span, colours: OpColours): Html {
  const inside = (s: Span) => s.start >= run.start && s.end <= run.end;
  const drawn = trace.spans.filter((s) => DRAWN_CATEGORIES.has(s.category) && inside(s));
  const states = trace.spans.filter((s) => s.category === 'state' && inside(s));
  const lanes = layoutTrace({ tracks: trace.tracks, spans: drawn, counters: [] }).lanes;
  const frame: Frame = {
    left: LABEL_WIDTH,
    top: 8,
    width: WIDTH - LABEL_WIDTH - 16,
    height: lanes.length * LANE_HEIGHT,
  };
  const view: RunView = {
    run,
    x: linearScale(run.end - run.start, [frame.left, frame.left + frame.width], 10, true),
    colours,
  };
  const laneTop = (i: number) => frame.top + i * LANE_HEIGHT;
  const firstLaneOf = new Map<string, number>();
  lanes.forEach((lane, i) => {
    if (!firstLaneOf.has(lane.track.name)) firstLaneOf.set(lane.track.name, i);
  });
  const marks = lanes.map((lane, i) => {
    if (firstLaneOf.get(lane.track.name) !== i) return laneMarks(lane, laneTop(i), view);
    const usage = profile.tracks.find((t) => t.track === lane.track.name);
    const note = [
      lane.track.kind === lane.track.name ? '' : lane.track.kind,
      usage ? `${formatPercent(usage.utilisation)} busy` : '',
    ];
    const trackStates = states.filter((s) => s.track === lane.track.name);
    return laneMarks(lane, laneTop(i), view, note.filter(Boolean).join(' · '), trackStates);
  });
  const gaps = profile.gaps.map((gap) => {
    const lane = firstLaneOf.get(gap.track);
    return lane === undefined ? '' : gapMark(gap, laneTop(lane), view.x);
  });
  const chart = svgChart(
    'timeline',
    WIDTH,
    frameBottom(frame) + 48,
    `timeline of run ${profile.runs.representative + 1}`,
    html`${HATCH_PATTERN}${xAxis(view.x, frame, formatMs, 'time since the run started (ms)')}${marks}${gaps}`,
  );
  return html`<div class="chart-frame">${chart}</div>
    ${legend(drawn, states, colours)}`;
}

const HATCH_PATTERN = html`<defs>
  <pattern id="gap-hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">
    <rect width="6" height="6" fill="#fff" />
    <line x1="0" y1="0" x2="0" y2="6" stroke="#9aa5b1" stroke-width="2" />
  </pattern>
</defs>`;

/**
 * One lane: its label, its spans (a span nested in another drawn inset by its depth) and, on a
 * track's first lane, a note on the track and the strip of its worker states.
 */
function laneMarks(lane: Lane, top: number, view: RunView, note?: string, states: Span[] = []): Html {
  const { run, x } = view;
  const barBottom = top + LANE_HEIGHT - 3 - STATE_STRIP;
  const open: Span[] = [];
  const spans = lane.spans.map(({ span }) => {
    while (open.length > 0 && open[open.length - 1]!.end <= span.start) open.pop();
    const inset = Math.min(open.length * NEST_INSET, (LANE_HEIGHT - 14) / 2);
    open.push(span);
    return html`<rect
      class="step"
      x="${x(span.start - run.start)}"
      y="${top + 3 + inset}"
      width="${widthOf(span, view)}"
      height="${barBottom - top - 3 - 2 * inset}"
      fill="${view.colours.of(opOf(span))}"
      >${tooltip(stepTitle(span, run))}</rect
    >`;
  });
  const strip = states.map(
    (state) =>
      html`<rect
        class="state"
        x="${x(state.start - run.start)}"
        y="${barBottom + 1}"
        width="${widthOf(state, view)}"
        height="${STATE_STRIP}"
        fill="${stateColour(state.name)}"
        >${tooltip([`${state.name} ${formatTime(state.end - state.start)}`])}</rect
      >`,
  );
  return html`<g class="lane" data-track="${lane.track.name}">
    <rect
      class="lane-bg"
      x="${x.range[0]}"
      y="${top + 1}"
      width="${x.range[1] - x.range[0]}"
      height="${LANE_HEIGHT - 2}"
    />
    <text class="lane-label" x="8" y="${top + 15}">${lane.name}</text>
    ${note ? html`<text class="lane-note" x="8" y="${top + 28}">${note}</text>` : ''} ${spans} ${strip}
  </g>`;
}

function widthOf(span: Span, { run, x }: RunView): number {
  return Math.max(MIN_STEP_WIDTH, x(span.end - run.start) - x(span.start - run.start));
}

function gapMark(gap: IdleGap, laneTop: number, x: Scale): Html {
  const left = x(gap.startUs);
  return html`<rect
    class="gap"
    x="${left}"
    y="${laneTop + 3}"
    width="${Math.max(MIN_STEP_WIDTH, x(gap.startUs + gap.durationUs) - left)}"
    height="${LANE_HEIGHT - 6 - STATE_STRIP}"
    fill="url(#gap-hatch)"
    stroke="${gapColour(gap.cause)}"
    >${tooltip([
      `idle ${formatTime(gap.durationUs)} at ${formatTime(gap.startUs)} on ${gap.track}`,
      `cause: ${gap.cause}`,
      gap.detail,
    ])}</rect
  >`;
}

function legendName(op: string): string {
  return op === 'gc' ? 'garbage collection' : shortOp(op);
}

function opOf(span: Span): string {
  if (span.category !== 'step') return span.category;
  const op = span.args?.op;
  return typeof op === 'string' ? op : span.name;
}

function stepTitle(span: Span, run: Span): string[] {
  const args = span.args ?? {};
  const took = span.end - span.start;
  const share = formatPercent(took / (run.end - run.start));
  const when = `${formatTime(took)} (${share} of the run), from ${formatTime(span.start - run.start)}`;
  if (span.category === 'gc') return [`garbage collection: ${span.name}`, when];
  if (span.category === 'copy') {
    return [
      `copy of ${String(args.value ?? '?')}`,
      `${String(args.from ?? '?')} → ${String(args.to ?? '?')}`,
      when,
    ];
  }
  const lines = [`${String(args.node ?? span.name)} · ${opOf(span)}`, when];
  if (args.backend !== undefined) lines.push(`backend ${String(args.backend)}`);
  if (Array.isArray(args.inputs)) lines.push(`inputs ${args.inputs.join(' ')}`);
  if (Array.isArray(args.outputs)) lines.push(`outputs ${args.outputs.join(' ')}`);
  return lines;
}

/**
 * The colours drawn: named operator types, copies, compilation and garbage collection, the grey
 * tail, worker states.
 */
function legend(drawn: readonly Span[], states: readonly Span[], colours: OpColours): Html {
  const present = new Set(drawn.map(opOf));
  const named = colours.named.filter(({ op }) => present.has(op)).map(({ op }) => op);
  const unnamed = [...present].filter((op) => !named.includes(op));
  const own = unnamed.filter((op) => colours.of(op) !== OTHER_COLOUR);
  const others = own.length < unnamed.length;
  const stateNames = [...new Set(states.map((s) => s.name))];
  return html`<ul class="legend">
    ${[...named, ...own].map(
      (op) =>
        html`<li><span class="swatch" style="background:${colours.of(op)}"></span>${legendName(op)}</li>`,
    )}
    ${others ? html`<li><span class="swatch" style="background:${OTHER_COLOUR}"></span>other operators</li>` : ''}
    ${stateNames.map(
      (name) =>
        html`<li><span class="swatch state" style="background:${stateColour(name)}"></span>${name}</li>`,
    )}
    <li><span class="swatch hatch"></span>idle gap</li>
  </ul>`;
}
