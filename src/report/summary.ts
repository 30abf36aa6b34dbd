/**
 * The top of the report: what was profiled (model, input shapes, backends, runs, the machine's
 * measured ceilings when known), a table of contents, and the session's phases, with each traced
 * run's duration as a small column chart so warm-up and run-to-run spread show at a glance.
 */

import type { Profile } from '../profile/index.js';
import { svgChart, tooltip } from './chart.js';
import { card } from './elements.js';
import { formatPercent, formatRate, formatTime } from './format.js';
import { html, type Html } from './html.js';

const SECTIONS: [string, string][] = [
  ['phases', 'Phases'],
  ['timeline', 'Timeline'],
  ['roofline', 'Roofline'],
  ['operators', 'Operators'],
  ['tracks', 'Tracks'],
  ['critical-path', 'Critical path'],
  ['memory', 'Memory'],
];

const RUNS_WIDTH = 320;
const RUNS_HEIGHT = 96;

export function header(profile: Profile): Html {
  const { runs, peaks } = profile;
  const shapes = Object.entries(profile.inputShapes);
  return html`<header>
    <div class="eyebrow">Heddle profile</div>
    <h1>${profile.model}</h1>
    <dl class="meta">
      <dt>inputs</dt><dd>${shapes.length ? shapes.map(([name, dims]) => html`<span class="mono">${name} [${dims.join('×')}]</span> `) : 'none'}</dd>
      <dt>backends</dt><dd>${profile.backends.join(', ') || 'none'}</dd>
      <dt>runs</dt><dd>${runsText(profile)}</dd>
      <dt>machine</dt><dd>${
        peaks
          ? html`${formatRate(peaks.gflops)} GFLOP/s <span class="sub">(${peaks.computeLabel})</span>, ${formatRate(peaks.gbPerSecond)} GB/s <span class="sub">(${peaks.memoryLabel})</span>, ridge at ${formatRate(peaks.ridge)} FLOP/B <span class="sub">· ${peaks.source}</span>`
          : html`<span class="sub">peaks not measured: run <code>heddle probe</code></span>`
      }</dd>
    </dl>
    <nav>${SECTIONS.map(([id, title]) => html`<a href="#${id}">${title}</a>`)}</nav>
  </header>`;
}

function runsText({ runs }: Profile): string {
  const count = runs.durationsUs.length;
  if (count === 1) return '1 traced, used as the steady state';
  return `${count} traced: the first specialises the plan, ${runs.steady.length} steady; run ${runs.representative + 1} is the median`;
}

export function phasesSection(profile: Profile): Html {
  const { phases, runs } = profile;
  return html`<section id="phases">
    <h2>Phases</h2>
    <p class="lead">Creating the session and specialising its plan, then the runs. The operators below account for ${formatPercent(runs.coverage.ratio)} of a steady run.</p>
    <div class="phases-layout">
      <div class="cards">
        ${card('load', formatTime(phases.loadUs), 'read and decode')}
        ${card('optimize', formatTime(phases.optimizeUs), 'shapes and graph passes')}
        ${card('plan', formatTime(phases.planUs), 'steps, memory, kernels')}
        ${card('prepare', formatTime(phases.prepareUs), 'binding kernels')}
        ${card('compile', formatTime(phases.compileUs), 'generating code')}
        ${card('first run', formatTime(phases.firstRunUs), 'with specialising')}
        ${card('steady median', formatTime(phases.steadyMedianUs), `spread (IQR) ${formatTime(runs.spreadUs)}`)}
      </div>
      ${runsChart(profile)}
    </div>
  </section>`;
}

function runsChart(profile: Profile): Html {
  const { durationsUs, representative, steady } = profile.runs;
  const longest = Math.max(...durationsUs);
  const gap = 4;
  const top = 18;
  const bottom = RUNS_HEIGHT - 16;
  const width = Math.min(28, (RUNS_WIDTH - gap * (durationsUs.length - 1)) / durationsUs.length);
  const columns = durationsUs.map((us, i) => {
    const height = longest > 0 ? ((bottom - top) * us) / longest : 0;
    const kind = i === representative ? 'representative' : steady.includes(i) ? 'steady' : 'first';
    return html`<rect class="run ${kind}" x="${i * (width + gap)}" y="${bottom - height}" width="${width}" height="${Math.max(1, height)}">${tooltip([
      `run ${i + 1}: ${formatTime(us)}`,
      kind === 'first' ? 'specialises the plan, cold caches' : kind === 'representative' ? 'the median steady run, drawn below' : 'steady',
    ])}</rect>`;
  });
  return html`<figure class="runs">${svgChart(
    'runs-chart',
    RUNS_WIDTH,
    RUNS_HEIGHT,
    'duration of each traced run',
    html`<text class="tick" x="0" y="11">longest ${formatTime(longest)}</text>${columns}<line class="baseline" x1="0" x2="${durationsUs.length * (width + gap) - gap}" y1="${bottom}" y2="${bottom}"/><text class="tick" x="0" y="${RUNS_HEIGHT - 2}">run 1</text>${durationsUs.length > 1 ? html`<text class="tick" x="${durationsUs.length * (width + gap) - gap}" y="${RUNS_HEIGHT - 2}" text-anchor="end">run ${durationsUs.length}</text>` : ''}`,
  )}<figcaption>each traced run; the median steady run is dark</figcaption></figure>`;
}
