/**
 * The roofline chart: every operator row placed by its arithmetic intensity (FLOPs per byte
 * moved) and the GFLOP/s it achieved, on log-log axes, against the machine's measured ceilings
 * when the profile has them: the compute peak as a horizontal roof and each memory level's
 * bandwidth as a sloped one (attainable GFLOP/s = GB/s × FLOP/B), the DRAM roof meeting the
 * compute roof at the ridge point. The roofs are those of the most threads a row's kernels could
 * use; a row on fewer is measured against the ceilings of its own threads, which its hover title
 * and the panel beside the chart name. A point's area follows its share of the run, so what
 * matters is what is big; the largest are labelled. Beside the chart, the ceilings' figures and
 * the rows that could not be placed.
 */

import { threadCount, type OperatorRow, type Peaks, type Profile } from '../profile/index.js';
import { frameBottom, frameRight, svgChart, tooltip, xAxis, yAxis, type Frame } from './chart.js';
import { shortOp, type OpColours } from './colours.js';
import { groupNoun, peakName } from './elements.js';
import { formatBytes, formatPercent, formatRate, formatTime } from './format.js';
import { html, type Html } from './html.js';
import { formatDecade, logScale, type Scale } from './scale.js';

/** How many of the largest points carry a label. */
export const LABELLED_POINTS = 8;

const WIDTH = 760;
const HEIGHT = 500;
const FRAME: Frame = { left: 74, top: 16, width: WIDTH - 74 - 20, height: HEIGHT - 16 - 56 };
/** Domain padding around the data, as a factor, so no point sits on an axis. */
const PADDING = 1.6;
/** The chart reaches at least this factor right of the ridge, so the compute-bound side shows. */
const COMPUTE_SIDE = 3;
/** A point label's advance per character and height, at the labels' 11px. */
const LABEL_FONT_WIDTH = 6.3;
const LABEL_HEIGHT = 13;
/** Rows named in the note on rows without FLOPs. */
const UNPLACED_NAMED = 12;

interface Point {
  row: OperatorRow;
  intensity: number;
  gflops: number;
}

export function rooflineSection(profile: Profile, colours: OpColours): Html {
  const points: Point[] = [];
  const unplaced: OperatorRow[] = [];
  for (const row of profile.operators) {
    const intensity = row.intensity ?? 0;
    const gflops = row.gflops ?? 0;
    if (intensity > 0 && gflops > 0) points.push({ row, intensity, gflops });
    else unplaced.push(row);
  }
  const chart = points.length
    ? rooflineChart(points, profile, colours)
    : html`<p class="note">No operator has a FLOP count to place.</p>`;
  return html`<section id="roofline">
    <h2>Roofline</h2>
    <p class="lead">
      Each ${groupNoun(profile)} placed by arithmetic intensity and achieved rate, its area proportional to
      its share of the run. Below the sloped roof an operator is limited by memory bandwidth, below the flat
      one by compute.
    </p>
    <div class="roofline-layout">
      <div class="chart-frame">${chart}</div>
      <aside class="roofline-side">${ceilingsPanel(profile)}${unplacedPanel(unplaced, profile)}</aside>
    </div>
  </section>`;
}

function rooflineChart(points: Point[], profile: Profile, colours: OpColours): Html {
  const { peaks } = profile;
  const intensities = points.map((p) => p.intensity).concat(peaks ? [peaks.ridge * COMPUTE_SIDE] : []);
  const rates = points.map((p) => p.gflops).concat(peaks ? [peaks.gflops] : []);
  const x = logScale(Math.min(...intensities) / PADDING, Math.max(...intensities) * PADDING, [
    FRAME.left,
    frameRight(FRAME),
  ]);
  const y = logScale(Math.min(...rates) / PADDING, Math.max(...rates) * PADDING, [
    frameBottom(FRAME),
    FRAME.top,
  ]);
  const bySize = [...points].sort((a, b) => b.row.share - a.row.share);
  return svgChart(
    'roofline',
    WIDTH,
    HEIGHT,
    'roofline: achieved GFLOP/s against arithmetic intensity',
    html`${PLOT_CLIP} ${peaks ? regions(peaks, x) : ''}
      ${xAxis(x, FRAME, formatDecade, 'arithmetic intensity (FLOP/byte)')}
      ${yAxis(y, FRAME, formatDecade, 'achieved GFLOP/s')} ${peaks ? roofs(peaks, x, y) : ''}
      <g class="points" clip-path="url(#roofline-plot)">
        ${bySize.map((p) => html`<circle class="point" cx="${x(p.intensity)}" cy="${y(p.gflops)}" r="${radius(p.row.share)}" fill="${colours.of(p.row.op)}">${tooltip(pointTitle(p, profile))}</circle>`)}
      </g>
      ${pointLabels(bySize.slice(0, LABELLED_POINTS), x, y, profile)}`,
  );
}

const PLOT_CLIP = html`<defs>
  <clipPath id="roofline-plot">
    <rect x="${FRAME.left}" y="${FRAME.top}" width="${FRAME.width}" height="${FRAME.height}" />
  </clipPath>
</defs>`;

function radius(share: number): number {
  return 3.5 + Math.sqrt(Math.max(0, share)) * 24;
}

type MemoryCeiling = Peaks['memory'][number];

/**
 * The flat compute roof and one sloped roof per memory level (the largest, DRAM, is the main one:
 * the ridge point is where it meets the compute roof), each sloped roof rising until it meets the
 * compute roof. Dashed lines continue the compute roof leftwards and the main roof upwards past
 * the ridge, so it is clear which one binds where.
 */
/** A slower SIMD path's roof, from where the main memory roof reaches it to the right edge. */
function slowerPathRoof(path: { path: string; gflops: number }, peaks: Peaks, x: Scale, y: Scale): Html {
  const main = peaks.memory[peaks.memory.length - 1];
  const knee = Math.max(x.domain[0], main ? path.gflops / main.gbPerSecond : x.domain[0]);
  return html`<line
    class="roof compute-roof slower-path"
    x1="${x(knee)}"
    y1="${y(path.gflops)}"
    x2="${x(x.domain[1])}"
    y2="${y(path.gflops)}"
    >${tooltip([`${path.path} peak ${formatRate(path.gflops)} GFLOP/s`, 'a slower SIMD path'])}</line
  >`;
}

function roofs(peaks: Peaks, x: Scale, y: Scale): Html {
  const [xMin, xMax] = x.domain;
  const ridgeX = x(peaks.ridge);
  const ridgeY = y(peaks.gflops);
  const main = peaks.memory[peaks.memory.length - 1];
  const sloped = peaks.memory.map((level) => memoryRoof(level, level === main, peaks, x, y));
  const firstKnee = Math.max(
    xMin,
    Math.min(peaks.ridge, ...peaks.memory.map((m) => peaks.gflops / m.gbPerSecond)),
  );
  const mainEnd = main ? Math.min(xMax, y.domain[1] / main.gbPerSecond) : 0;
  return html`<g class="roofs" clip-path="url(#roofline-plot)">
      <line class="roof-extension" x1="${x(xMin)}" y1="${ridgeY}" x2="${x(firstKnee)}" y2="${ridgeY}" />
      ${
        main && mainEnd > peaks.ridge
          ? html`<line
              class="roof-extension"
              x1="${ridgeX}"
              y1="${ridgeY}"
              x2="${x(mainEnd)}"
              y2="${y(main.gbPerSecond * mainEnd)}"
            />`
          : ''
      }
      <line class="ridge-drop" x1="${ridgeX}" y1="${ridgeY}" x2="${ridgeX}" y2="${frameBottom(FRAME)}" />
      ${sloped}
      <line class="roof compute-roof" x1="${x(firstKnee)}" y1="${ridgeY}" x2="${x(xMax)}" y2="${ridgeY}"
        >${tooltip([`compute peak ${formatRate(peaks.gflops)} GFLOP/s`, peaks.computeLabel])}</line
      >
      ${peaks.computePaths.slice(1).map((path) => slowerPathRoof(path, peaks, x, y))}
      <circle class="ridge" cx="${ridgeX}" cy="${ridgeY}" r="4.5"
        >${tooltip([`ridge point ${formatRate(peaks.ridge)} FLOP/B`, 'where the compute roof meets the main memory roof'])}</circle
      >
    </g>
    <g class="roof-labels">
      <text class="roof-label" x="${frameRight(FRAME) - 6}" y="${ridgeY - 7}" text-anchor="end"
        >${formatRate(peaks.gflops)} GFLOP/s · ${peaks.computeLabel}</text
      >
      ${cacheTags(peaks, x, y)}
      ${sideLabel(`ridge ${formatRate(peaks.ridge)} FLOP/B`, 'ridge-label', ridgeX, ridgeY + 18)}
    </g>`;
}

/** The memory-bound side of the ridge shaded, under the grid, and both sides named at the bottom. */
function regions(peaks: Peaks, x: Scale): Html {
  const ridgeX = Math.min(frameRight(FRAME), Math.max(FRAME.left, x(peaks.ridge)));
  const bottom = frameBottom(FRAME) - 8;
  return html`<rect
      class="region"
      x="${FRAME.left}"
      y="${FRAME.top}"
      width="${ridgeX - FRAME.left}"
      height="${FRAME.height}"
    />
    ${sideLabel('memory-bound', 'region-label', ridgeX, bottom, 'left')}
    ${sideLabel('compute-bound', 'region-label', ridgeX, bottom, 'right')}`;
}

/**
 * A label beside a vertical at `x`: on the given side, or, with no side given, on the right when
 * it fits inside the frame and on the left otherwise; a label that fits neither way is left out.
 */
function sideLabel(text: string, className: string, x: number, y: number, side?: 'left' | 'right'): Html {
  const width = text.length * LABEL_FONT_WIDTH;
  const fitsRight = x + 8 + width <= frameRight(FRAME);
  const fitsLeft = x - 8 - width >= FRAME.left;
  const right = side === 'right' || (side === undefined && fitsRight);
  if (right ? !fitsRight : !fitsLeft) return html``;
  return html`<text
    class="${className}"
    x="${right ? x + 8 : x - 8}"
    y="${y}"
    text-anchor="${right ? 'start' : 'end'}"
    >${text}</text
  >`;
}

/**
 * A level's bandwidth roof (GFLOP/s = GB/s × FLOP/B) up to where it meets the compute roof; the
 * main (DRAM) roof is labelled along its middle. Nothing when the roof lies outside the chart.
 */
function memoryRoof(level: MemoryCeiling, main: boolean, peaks: Peaks, x: Scale, y: Scale): Html {
  const rate = (intensity: number) => level.gbPerSecond * intensity;
  const start = Math.max(x.domain[0], y.domain[0] / level.gbPerSecond);
  const knee = Math.min(x.domain[1], peaks.gflops / level.gbPerSecond);
  if (knee <= start) return html``;
  const title = tooltip([
    `${level.level} bandwidth ${formatRate(level.gbPerSecond)} GB/s (copy)`,
    level.capacityBytes === null
      ? 'beyond the last cache'
      : `for data up to ${formatBytes(level.capacityBytes)}`,
  ]);
  const line = html`<line
    class="roof ${main ? 'memory-roof' : 'cache-roof'}"
    x1="${x(start)}"
    y1="${y(rate(start))}"
    x2="${x(knee)}"
    y2="${y(rate(knee))}"
    >${title}</line
  >`;
  if (!main) return line;
  const angle = (Math.atan2(y(rate(knee)) - y(rate(start)), x(knee) - x(start)) * 180) / Math.PI;
  const middle = Math.sqrt(start * knee);
  return html`${line}<text
      class="roof-label"
      transform="translate(${x(middle)} ${y(rate(middle)) - 6}) rotate(${angle})"
      text-anchor="middle"
      >${level.level} ${formatRate(level.gbPerSecond)} GB/s</text
    >`;
}

/**
 * The cache levels' names under the compute roof, each ending where its roof meets it (their
 * bandwidths are in the hover titles and the table beside the chart). Parallel roofs end close
 * together when their bandwidths are, so a name that would run into its right neighbour's, or out
 * of the chart, is left out.
 */
function cacheTags(peaks: Peaks, x: Scale, y: Scale): Html {
  const caches = peaks.memory
    .slice(0, -1)
    .map((m) => ({ name: m.level, knee: peaks.gflops / m.gbPerSecond }))
    .filter(({ knee }) => knee > x.domain[0] && knee < peaks.ridge)
    .sort((a, b) => b.knee - a.knee);
  let room = x(peaks.ridge) - 6;
  const tags: Html[] = [];
  for (const { name, knee } of caches) {
    const right = x(knee) - 3;
    const left = right - name.length * LABEL_FONT_WIDTH;
    if (right > room || left < FRAME.left) continue;
    tags.push(
      html`<text class="cache-label" x="${right}" y="${y(peaks.gflops) + 13}" text-anchor="end"
        >${name}</text
      >`,
    );
    room = left - 4;
  }
  return html`${tags}`;
}

function pointTitle({ row, intensity, gflops }: Point, profile: Profile): string[] {
  const lines = [row.node ? `${row.node} · ${row.op}` : row.key];
  lines.push(`${formatTime(row.totalUs)} per run, ${formatPercent(row.share)} of the run`);
  const rates = [`${formatRate(intensity)} FLOP/B`, `${formatRate(gflops)} GFLOP/s`];
  if (row.gbPerSecond !== undefined) rates.push(`${formatRate(row.gbPerSecond)} GB/s`);
  lines.push(rates.join(' · '));
  if (row.bound && row.percentOfPeak !== undefined) {
    lines.push(`${row.bound}-bound: ${row.percentOfPeak.toFixed(1)}% of the ${peakName(row, profile)}`);
  }
  if (profile.groupBy !== 'node') lines.push(`${row.calls} calls per run`);
  return lines;
}

interface Box {
  left: number;
  top: number;
  right: number;
  bottom: number;
}

/**
 * Labels for the largest points, each put right, left, above or below its point (centred, then
 * leaning right or left), whichever first stays inside the plot without covering a label already
 * placed; a point with no free place goes without (its hover title still names it).
 */
function pointLabels(points: readonly Point[], x: Scale, y: Scale, profile: Profile): Html {
  const placed: Box[] = [];
  const labels: Html[] = [];
  for (const point of points) {
    const text = pointLabel(point.row, profile);
    const width = text.length * LABEL_FONT_WIDTH;
    const cx = x(point.intensity);
    const cy = y(point.gflops);
    const r = radius(point.row.share) + 4;
    const candidates: { box: Box; anchor: 'start' | 'end' | 'middle'; tx: number; ty: number }[] = [
      { box: box(cx + r, cy - LABEL_HEIGHT / 2, width), anchor: 'start', tx: cx + r, ty: cy + 4 },
      { box: box(cx - r - width, cy - LABEL_HEIGHT / 2, width), anchor: 'end', tx: cx - r, ty: cy + 4 },
      { box: box(cx - width / 2, cy - r - LABEL_HEIGHT, width), anchor: 'middle', tx: cx, ty: cy - r - 3 },
      { box: box(cx - width / 2, cy + r, width), anchor: 'middle', tx: cx, ty: cy + r + 10 },
      { box: box(cx, cy - r - LABEL_HEIGHT, width), anchor: 'start', tx: cx, ty: cy - r - 3 },
      { box: box(cx, cy + r, width), anchor: 'start', tx: cx, ty: cy + r + 10 },
      { box: box(cx - width, cy - r - LABEL_HEIGHT, width), anchor: 'end', tx: cx, ty: cy - r - 3 },
      { box: box(cx - width, cy + r, width), anchor: 'end', tx: cx, ty: cy + r + 10 },
    ];
    const free = candidates.find((c) => insideFrame(c.box) && !placed.some((p) => overlaps(p, c.box)));
    if (!free) continue;
    placed.push(free.box);
    labels.push(
      html`<text class="point-label" x="${free.tx}" y="${free.ty}" text-anchor="${free.anchor}"
        >${text}</text
      >`,
    );
  }
  return html`<g class="point-labels">${labels}</g>`;
}

function pointLabel(row: OperatorRow, profile: Profile): string {
  if (profile.groupBy !== 'node') return shortOp(row.op);
  const name = row.node ?? row.key;
  return name.length > 30 ? `…${name.slice(-29)}` : name;
}

function box(left: number, top: number, width: number): Box {
  return { left, top, right: left + width, bottom: top + LABEL_HEIGHT };
}

function insideFrame(b: Box): boolean {
  return (
    b.left >= FRAME.left &&
    b.right <= frameRight(FRAME) &&
    b.top >= FRAME.top &&
    b.bottom <= frameBottom(FRAME)
  );
}

function overlaps(a: Box, b: Box): boolean {
  return a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
}

function ceilingsPanel(profile: Profile): Html {
  const { peaks } = profile;
  if (!peaks) {
    return html`<h3>Ceilings</h3>
      <p class="note">
        No measured peaks in this profile: run <code>heddle probe</code> to place the operators against this
        machine's roofs.
      </p>`;
  }
  return html`<h3>Ceilings</h3>
    <dl class="facts">
      <dt>compute peak</dt>
      <dd><b>${formatRate(peaks.gflops)}</b> GFLOP/s<small>${peaks.computeLabel}</small></dd>
      <dt>ridge point</dt>
      <dd>
        <b>${formatRate(peaks.ridge)}</b> FLOP/B<small>below it memory-bound, above it compute-bound</small>
      </dd>
    </dl>
    <table class="levels">
      <thead>
        <tr>
          <th>memory level</th>
          <th class="num">holds</th>
          <th class="num">GB/s</th>
        </tr>
      </thead>
      <tbody>
        ${peaks.memory.map(
          (m) =>
            html`<tr>
              <td>${m.level}</td>
              <td class="num">${m.capacityBytes === null ? '—' : formatBytes(m.capacityBytes)}</td>
              <td class="num">${formatRate(m.gbPerSecond)}</td>
            </tr>`,
        )}
      </tbody>
    </table>
    ${fewerThreadsNote(profile.peaksAtFewerThreads ?? [], peaks)}
    <p class="source">
      Copy bandwidth; a memory-bound operator is compared with the level one call's bytes fit in.
      ${peaks.source}
    </p>`;
}

/** The ceilings of rows whose kernels could use fewer threads than the roofs drawn. */
function fewerThreadsNote(fewer: readonly Peaks[], drawn: Peaks): Html {
  if (fewer.length === 0) return html``;
  return html`<p class="note">
    The roofs are those of ${threadCount(drawn.threads)}. Rows whose kernels could use fewer are compared with
    the ceilings of their own:
    ${fewer.map(
      (p) =>
        html`<span class="mono">${threadCount(p.threads)}</span> ${formatRate(p.gflops)} GFLOP/s, ridge
          ${formatRate(p.ridge)} FLOP/B,
          ${p.memory.map((m) => `${m.level} ${formatRate(m.gbPerSecond)}`).join(' · ')} GB/s. `,
    )}
  </p>`;
}

function unplacedPanel(unplaced: readonly OperatorRow[], profile: Profile): Html {
  if (unplaced.length === 0) return html``;
  const share = unplaced.reduce((sum, row) => sum + row.share, 0);
  return html`<h3>Not on the chart</h3>
    <p class="note">
      ${unplaced.length} ${groupNoun(profile, unplaced.length)} (${formatPercent(share)} of the run) without
      FLOPs to place:
      ${unplaced
        .slice(0, UNPLACED_NAMED)
        .map((row) => row.key)
        .join(', ')}${unplaced.length > UNPLACED_NAMED ? ', …' : ''}.
    </p>`;
}
