/**
 * The per-operator table: every row of the profile, most self time first, with its input shapes
 * under its name, its calls and times, its share of the run as a bar in the operator's colour,
 * the analytic work (FLOPs, bytes moved), the rates achieved, and where the roofline puts it (the
 * percentage's title names the ceiling and its threads). Numeric columns are right-aligned in
 * tabular figures so their digits line up; figures the cost model could not count show a dash.
 * The backend column appears when more than one backend ran.
 */

import type { OperatorRow, Profile } from '../profile/index.js';
import type { OpColours } from './colours.js';
import { groupNoun, opChip, pathName, peakName, shareBar } from './elements.js';
import { formatBytes, formatCount, formatPercent, formatRate, formatTime } from './format.js';
import { html, type Html } from './html.js';

/** Input-shape lists shown in a cell; the rest are counted, and all are in the cell's title. */
const SHAPES_SHOWN = 2;

export function operatorsSection(profile: Profile, colours: OpColours): Html {
  const { coverage, steady } = profile.runs;
  const rows = profile.operators;
  const manyBackends = new Set(rows.flatMap((row) => row.backends)).size > 1;
  const sum = (value: (row: OperatorRow) => number) => rows.reduce((total, row) => total + value(row), 0);
  return html`<section id="operators">
    <h2>Operators</h2>
    <p class="lead">
      By ${groupNoun(profile)}, self time per run (the mean of ${steady.length} steady
      run${steady.length === 1 ? '' : 's'}); together they account for ${formatPercent(coverage.ratio)} of the
      run. FLOPs and bytes moved are analytic counts per run from the static shapes; the bound and percent of
      peak come from the roofline.
    </p>
    <div class="table-scroll">
      <table class="operators">
        <thead>
          <tr>
            <th>
              ${profile.groupBy === 'node' ? 'node' : 'operator'} <span class="sub">and input shapes</span>
            </th>
            <th class="num">calls</th>
            <th class="num">total</th>
            <th class="num">mean</th>
            <th class="bar-cell">share of the run</th>
            <th class="num">FLOPs</th>
            <th class="num">bytes</th>
            <th class="num">GFLOP/s</th>
            <th class="num">GB/s</th>
            <th class="num">FLOP/B</th>
            <th>bound</th>
            <th class="num">% of peak</th>
            ${manyBackends ? html`<th>backend</th>` : ''}
          </tr>
        </thead>
        <tbody>
          ${rows.map((row) => operatorRow(row, profile, colours, manyBackends))}
        </tbody>
        <tfoot>
          <tr>
            <td>total</td>
            <td class="num">${formatCalls(sum((row) => row.calls))}</td>
            <td class="num">${formatTime(sum((row) => row.totalUs))}</td>
            <td></td>
            <td class="bar-cell">${shareBar(coverage.ratio)}</td>
            <td class="num">${formatCount(sum((row) => row.flops ?? 0))}</td>
            <td class="num">${formatBytes(sum((row) => row.bytes ?? 0))}</td>
            <td colspan="${manyBackends ? 6 : 5}"></td>
          </tr>
        </tfoot>
      </table>
    </div>
  </section>`;
}

function operatorRow(row: OperatorRow, profile: Profile, colours: OpColours, manyBackends: boolean): Html {
  const name =
    profile.groupBy === 'node'
      ? html`<div class="mono node">${pathName(row.node ?? row.key)}</div>
          ${opChip(row.op, colours)}`
      : opChip(row.op, colours);
  return html`<tr>
    <td class="name">${name}${shapes(row)}</td>
    <td class="num">${formatCalls(row.calls)}</td>
    <td class="num">${formatTime(row.totalUs)}</td>
    <td class="num">${formatTime(row.meanUs)}</td>
    <td class="bar-cell">${shareBar(row.share, colours.of(row.op))}</td>
    <td class="num">${optional(row.flops, formatCount)}</td>
    <td class="num">${optional(row.bytes, formatBytes)}</td>
    <td class="num">${optional(row.gflops, formatRate)}</td>
    <td class="num">${optional(row.gbPerSecond, formatRate)}</td>
    <td class="num">${optional(row.intensity, formatRate)}</td>
    <td>
      ${row.bound ? html`<span class="badge ${row.bound}">${row.bound}${row.memoryLevel ? ` · ${row.memoryLevel}` : ''}</span>` : missing()}
    </td>
    <td class="num" ${row.bound ? html`title="of the ${peakName(row, profile)}"` : ''}>
      ${optional(row.percentOfPeak, (p) => `${formatRate(p)}%`)}
    </td>
    ${manyBackends ? html`<td>${row.backends.join(', ')}</td>` : ''}
  </tr>`;
}

function shapes(row: OperatorRow): Html {
  const more = row.inputShapes.length - SHAPES_SHOWN;
  return html`<div class="shapes" title="${row.inputShapes.join('\n')}">
    ${row.inputShapes
      .slice(0, SHAPES_SHOWN)
      .map((s) => html`<div class="mono">${s}</div>`)}${more > 0 ? html`<div>and ${more} more</div>` : ''}
  </div>`;
}

/** Calls per run are whole unless a subgraph ran a different number of times in different runs. */
function formatCalls(calls: number): string {
  return Number.isInteger(calls) ? String(calls) : calls.toFixed(2);
}

function optional(value: number | undefined, format: (value: number) => string): Html | string {
  return value === undefined || !Number.isFinite(value) ? missing() : format(value);
}

function missing(): Html {
  return html`<span class="missing" title="not counted">–</span>`;
}
