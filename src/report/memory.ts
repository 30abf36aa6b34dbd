/**
 * The memory section: the bytes of values live at each step of the representative run as a step
 * line over time (over the step index when the trace did not time every step), the arena's size
 * for comparison, the high-water mark marked on the curve, and the values live at that moment.
 */

import type { MemoryProfile, Profile } from '../profile/index.js';
import { frameBottom, frameRight, svgChart, tooltip, xAxis, yAxis, type Frame } from './chart.js';
import { card, pathName, shareBar } from './elements.js';
import { formatBytes, formatMs, formatTime } from './format.js';
import { html, type Html } from './html.js';
import { linearScale } from './scale.js';

const WIDTH = 1120;
const HEIGHT = 300;
const FRAME: Frame = { left: 74, top: 24, width: WIDTH - 74 - 24, height: HEIGHT - 24 - 56 };
const BINARY_UNITS: [string, number][] = [
  ['GiB', 2 ** 30],
  ['MiB', 2 ** 20],
  ['KiB', 2 ** 10],
  ['B', 1],
];

export function memorySection(profile: Profile): Html {
  const { memory } = profile;
  const { highWater } = memory;
  return html`<section id="memory">
    <h2>Memory</h2>
    <p class="lead">
      Bytes of values live at each step of run ${profile.runs.representative + 1}: arena values (each place
      counted once) and values with memory of their own. Constants and inputs are resident throughout and not
      in the curve.
    </p>
    <div class="cards">
      ${card('high-water mark', formatBytes(highWater.bytes), `at step ${highWater.step}, ${highWater.node}`)}
      ${card('arena', formatBytes(memory.arenaBytes), 'summed over devices')}
      ${card('constants', formatBytes(memory.constantBytes), 'weights and other initialisers')}
      ${card('inputs', formatBytes(memory.inputBytes), 'the fed tensors')}
    </div>
    ${memory.unsizedValues ? html`<p class="note">${memory.unsizedValues} values of a size the plan does not know (data-dependent shapes, sequences) are not counted.</p>` : ''}
    ${memory.curve.length ? html`<div class="chart-frame">${memoryChart(profile)}</div>` : html`<p class="note">The plan has no steps to draw.</p>`}
    <h3>Live at the high-water mark</h3>
    ${liveTable(memory)}
  </section>`;
}

function memoryChart(profile: Profile): Html {
  const { memory } = profile;
  const runUs = profile.runs.durationsUs[profile.runs.representative] ?? 0;
  const times = memory.curve.map((p) => p.timeUs ?? NaN);
  const timed = runUs > 0 && times.every(Number.isFinite);
  // Step i holds from its start to the next step's; the last one until the run ends.
  const starts = timed ? times : memory.curve.map((p) => p.step);
  const end = timed ? runUs : memory.curve.length;
  const until = (i: number) => (i + 1 < starts.length ? starts[i + 1]! : end);
  const x = linearScale(end, [FRAME.left, frameRight(FRAME)], 10, true);
  const top = Math.max(memory.arenaBytes, ...memory.curve.map((p) => p.bytes));
  const [unit, unitBytes] =
    BINARY_UNITS.find(([, bytes]) => top >= bytes) ?? BINARY_UNITS[BINARY_UNITS.length - 1]!;
  const scaled = linearScale(top / unitBytes, [frameBottom(FRAME), FRAME.top], 5);
  const y = (bytes: number) => scaled(bytes / unitBytes);
  const corners = memory.curve.flatMap((p, i) => [
    `${x(starts[i]!)} ${y(p.bytes)}`,
    `${x(until(i))} ${y(p.bytes)}`,
  ]);
  const line = `M ${corners.join(' L ')}`;
  const area = `M ${x(starts[0]!)} ${y(0)} L ${corners.join(' L ')} L ${x(end)} ${y(0)} Z`;
  const highIndex = memory.curve.findIndex((p) => p.step === memory.highWater.step);
  const bands = memory.curve.map(
    (p, i) =>
      html`<rect
        class="hover-target"
        x="${x(starts[i]!)}"
        y="${FRAME.top}"
        width="${Math.max(0.5, x(until(i)) - x(starts[i]!))}"
        height="${FRAME.height}"
        >${tooltip([
          `step ${p.step}${timed ? `, from ${formatTime(starts[i]!)}` : ''}`,
          `${formatBytes(p.bytes)} live`,
        ])}</rect
      >`,
  );
  return svgChart(
    'memory',
    WIDTH,
    HEIGHT,
    'bytes of values live over the run',
    html`${xAxis(x, FRAME, timed ? formatMs : String, timed ? 'time since the run started (ms)' : 'step')}
      ${yAxis(scaled, FRAME, String, `live values (${unit})`)}
      <path class="area" d="${area}" />
      <path class="curve" d="${line}" />
      ${memory.arenaBytes > 0 ? arenaMark(memory.arenaBytes, y(memory.arenaBytes)) : ''} ${bands}
      ${highIndex >= 0 ? highWaterMark(memory, x(starts[highIndex]!), y(memory.highWater.bytes)) : ''}`,
  );
}

/** The arena's size across the chart: how far the live values fall short of filling it. */
function arenaMark(bytes: number, y: number): Html {
  return html`<line class="arena-line" x1="${FRAME.left}" x2="${frameRight(FRAME)}" y1="${y}" y2="${y}" />
    <text class="arena-label" x="${frameRight(FRAME) - 6}" y="${y - 6}" text-anchor="end"
      >arena ${formatBytes(bytes)}</text
    >`;
}

/** The high-water point, with its label above the plot (left of the point near the right edge). */
function highWaterMark(memory: MemoryProfile, x: number, y: number): Html {
  const { bytes, step, node } = memory.highWater;
  const onLeft = x > FRAME.left + FRAME.width * 0.7;
  return html`<g class="high-water">
    <line class="leader" x1="${x}" y1="${y}" x2="${x}" y2="${FRAME.top - 8}" />
    <circle cx="${x}" cy="${y}" r="5"
      >${tooltip([`high-water mark ${formatBytes(bytes)}`, `step ${step}: ${node}`])}</circle
    >
    <text x="${x + (onLeft ? -8 : 8)}" y="${FRAME.top - 10}" text-anchor="${onLeft ? 'end' : 'start'}">
      high-water ${formatBytes(bytes)} · ${node}
    </text>
  </g>`;
}

function liveTable(memory: MemoryProfile): Html {
  const { live, bytes } = memory.highWater;
  if (live.length === 0) return html`<p class="note">No values are live at the high-water mark.</p>`;
  return html`<table class="live">
    <thead>
      <tr>
        <th>value</th>
        <th>memory</th>
        <th class="num">bytes</th>
        <th class="bar-cell">share of the mark</th>
      </tr>
    </thead>
    <tbody>
      ${live.map(
        (value) =>
          html`<tr>
            <td class="mono">${pathName(value.name)}</td>
            <td>${value.kind}</td>
            <td class="num">${formatBytes(value.bytes)}</td>
            <td class="bar-cell">${shareBar(bytes > 0 ? value.bytes / bytes : 0)}</td>
          </tr>`,
      )}
    </tbody>
  </table>`;
}
