/**
 * The memory section: the bytes of values live at each step of the representative run as a step
 * line over time (over the step index when the trace did not time every step), the arena's size
 * for comparison, the high-water mark marked on the curve, and the values live at that moment.
 */

import type { MemoryProfile, Profile } from '../profile/index.js';
import { frameBottom, frameRight, svgChart, tooltip, xAxis, yAxis, type Frame } from './chart.js';
import { card, shareBar } from './elements.js';
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
  /** Where step i starts, and where the last one's interval ends. */
  const positions = timed ? times : memory.curve.map((p) => p.step);
  const end = timed ? runUs : memory.curve.length;
  const x = linearScale(end, [FRAME.left, frameRight(FRAME)], 10, true);
  const top = Math.max(memory.arenaBytes, ...memory.curve.map((p) => p.bytes));
  const [unit, unitBytes] =
    BINARY_UNITS.find(([, bytes]) => top >= bytes) ?? BINARY_UNITS[BINARY_UNITS.length - 1]!;
  const y = linearScale(top / unitBytes, [frameBottom(FRAME), FRAME.top], 5);
  const yOf = (bytes: number) => y(bytes / unitBytes);
  const until = (i: number) => (i + 1 < positions.length ? positions[i + 1]! : end);
  let outline = `M ${x(positions[0]!)} ${yOf(0)}`;
  memory.curve.forEach((p, i) => {
    outline += ` L ${x(positions[i]!)} ${yOf(p.bytes)} L ${x(until(i))} ${yOf(p.bytes)}`;
  });
  const line = outline.replace(/^M [^L]+L/, 'M');
  const highIndex = memory.curve.findIndex((p) => p.step === memory.highWater.step);
  const high = highIndex >= 0 ? { x: x(positions[highIndex]!), y: yOf(memory.highWater.bytes) } : undefined;
  const labelOnLeft = high !== undefined && high.x > FRAME.left + FRAME.width * 0.7;
  return svgChart(
    'memory',
    WIDTH,
    HEIGHT,
    'bytes of values live over the run',
    html`${xAxis(x, FRAME, timed ? formatMs : String, timed ? 'time since the run started (ms)' : 'step')}
      ${yAxis(y, FRAME, String, `live values (${unit})`)}
      <path class="area" d="${outline} L ${x(end)} ${yOf(0)} Z" />
      <path class="curve" d="${line}" />
      ${memory.arenaBytes > 0 ? html`<line class="arena-line" x1="${FRAME.left}" x2="${frameRight(FRAME)}" y1="${yOf(memory.arenaBytes)}" y2="${yOf(memory.arenaBytes)}" /><text class="arena-label" x="${frameRight(FRAME) - 6}" y="${yOf(memory.arenaBytes) - 6}" text-anchor="end">arena ${formatBytes(memory.arenaBytes)}</text>` : ''}
      ${memory.curve.map(
        (p, i) =>
          html`<rect
            class="hover-target"
            x="${x(positions[i]!)}"
            y="${FRAME.top}"
            width="${Math.max(0.5, x(until(i)) - x(positions[i]!))}"
            height="${FRAME.height}"
            >${tooltip([
              `step ${p.step}${timed ? `, from ${formatTime(positions[i]!)}` : ''}`,
              `${formatBytes(p.bytes)} live`,
            ])}</rect
          >`,
      )}
      ${high ? html`<g class="high-water"><line class="leader" x1="${high.x}" y1="${high.y}" x2="${high.x}" y2="${FRAME.top - 8}" /><circle cx="${high.x}" cy="${high.y}" r="5">${tooltip([`high-water mark ${formatBytes(memory.highWater.bytes)}`, `step ${memory.highWater.step}: ${memory.highWater.node}`])}</circle><text x="${high.x + (labelOnLeft ? -8 : 8)}" y="${FRAME.top - 10}" text-anchor="${labelOnLeft ? 'end' : 'start'}">high-water ${formatBytes(memory.highWater.bytes)} · ${memory.highWater.node}</text></g>` : ''}`,
  );
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
            <td class="mono">${value.name}</td>
            <td>${value.kind}</td>
            <td class="num">${formatBytes(value.bytes)}</td>
            <td class="bar-cell">${shareBar(bytes > 0 ? value.bytes / bytes : 0)}</td>
          </tr>`,
      )}
    </tbody>
  </table>`;
}
