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

const RUNS_WIDTH = 160;
const RUNS_HEIGHT = 34;

export function header(profile: Profile): Html {
  const { peaks } = profile;
  const shapes = Object.entries(profile.inputShapes);
  return html`<header>
    <div class="eyebrow">Heddle profile</div>
    <h1>${profile.model}</h1>
    <dl class="meta">
      <dt>inputs</dt>
      <dd>
        ${shapes.length ? shapes.map(([name, dims]) => html`<span class="mono">${name} [${dims.join('×')}]</span> `) : 'none'}
      </dd>
      <dt>backends</dt>
      <dd>${profile.backends.join(', ') || 'none'}</dd>
      <dt>runs</dt>
      <dd>${runsText(profile)}</dd>
      <dt>machine</dt>
      <dd>
        ${
          peaks
            ? html`${formatRate(peaks.gflops)} GFLOP/s <span class="sub">(${peaks.computeLabel})</span>,
                ${peaks.memory.map((m) => `${m.level} ${formatRate(m.gbPerSecond)}`).join(' · ')} GB/s, ridge
                at ${formatRate(peaks.ridge)} FLOP/B`
            : html`<span class="sub">peaks not measured: run <code>heddle probe</code></span>`
        }
      </dd>
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
    <p class="lead">
      Creating the session and specialising its plan, then the runs. The operators below account for
      ${formatPercent(runs.coverage.ratio)} of a steady run.
    </p>
    <div class="phase-cards">
      ${card('load', formatTime(phases.loadUs), 'read and decode')}
      ${card('optimize', formatTime(phases.optimizeUs), 'shapes and graph passes')}
      ${card('plan', formatTime(phases.planUs), 'steps, memory, kernels')}
      ${card('prepare', formatTime(phases.prepareUs), 'binding kernels')}
      ${card('compile', formatTime(phases.compileUs), 'generating code')}
      ${card('first run', formatTime(phases.firstRunUs), 'with specialising')}
      ${card('steady median', formatTime(phases.steadyMedianUs), `IQR ${formatTime(runs.spreadUs)}`)}
      ${runsCard(profile)}
    </div>
  </section>`;
}

/** Each run's duration as a column, the representative run dark, the first one pale. */
function runsCard(profile: Profile): Html {
  const { durationsUs, representative, steady } = profile.runs;
  const longest = Math.max(...durationsUs);
  const gap = 3;
  const width = Math.min(24, (RUNS_WIDTH - gap * (durationsUs.length - 1)) / durationsUs.length);
  const columns = durationsUs.map((us, i) => {
    const height = longest > 0 ? (RUNS_HEIGHT * us) / longest : 0;
    const kind = i === representative ? 'representative' : steady.includes(i) ? 'steady' : 'first';
    return html`<rect
      class="run ${kind}"
      x="${i * (width + gap)}"
      y="${RUNS_HEIGHT - height}"
      width="${width}"
      height="${Math.max(1, height)}"
      >${tooltip([
        `run ${i + 1}: ${formatTime(us)}`,
        kind === 'first'
          ? 'specialises the plan, cold caches'
          : kind === 'representative'
            ? 'the median steady run'
            : 'steady',
      ])}</rect
    >`;
  });
  return html`<div class="card runs">
    <div class="card-title">${durationsUs.length} runs, up to ${formatTime(longest)}</div>
    ${svgChart('runs-chart', RUNS_WIDTH, RUNS_HEIGHT, 'duration of each traced run', columns)}
    <div class="card-detail">dark: the median steady run</div>
  </div>`;
}
