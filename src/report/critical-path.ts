/**
 * The critical path: the longest chain of dependent steps, drawn as a strip of its steps in
 * order (each as wide as its share of the path, in its operator's colour), the steps whose
 * halving would shorten it most, and the steps off the path with the least slack, which are the
 * next to become critical.
 */

import type { Profile } from '../profile/index.js';
import { svgChart, tooltip, xAxis, type Frame } from './chart.js';
import type { OpColours } from './colours.js';
import { card, opChip, pathName, shareBar } from './elements.js';
import { formatMs, formatPercent, formatTime } from './format.js';
import { html, type Html } from './html.js';
import { linearScale } from './scale.js';

/** Steps of the path listed, those whose halving saves the most. */
export const PATH_ROWS = 12;
/** Steps off the path listed, least slack first. */
export const SLACK_ROWS = 10;

const WIDTH = 1120;
const FRAME: Frame = { left: 16, top: 4, width: WIDTH - 32, height: 28 };
const MIN_STEP_WIDTH = 0.6;

export function criticalPathSection(profile: Profile, colours: OpColours): Html {
  const path = profile.criticalPath;
  const best = [...path.steps]
    .map((step, position) => ({ step, position }))
    .sort((a, b) => b.step.savingIfTwiceAsFastUs - a.step.savingIfTwiceAsFastUs)
    .slice(0, PATH_ROWS);
  const offPath = path.slack.filter((s) => s.slackUs > 0).slice(0, SLACK_ROWS);
  return html`<section id="critical-path">
    <h2>Critical path</h2>
    <p class="lead">
      The longest chain of dependent steps, with the steady runs' median step times: no number of threads runs
      the model faster than this chain.
    </p>
    <div class="cards">
      ${card('critical path', formatTime(path.lengthUs), `${path.steps.length} steps`)}
      ${card('work', formatTime(path.workUs), 'all steps, one after another')}
      ${card('parallelism', path.parallelism.toFixed(2), 'threads kept busy on average')}
    </div>
    ${path.steps.length ? html`<div class="chart-frame">${pathStrip(profile, colours)}</div>` : ''}
    <h3>Steps on the path, by what halving them saves</h3>
    <table class="path">
      <thead>
        <tr>
          <th class="num">#</th>
          <th>node</th>
          <th>operator</th>
          <th class="num">time</th>
          <th class="bar-cell">share of the path</th>
          <th class="num">saved if 2× faster</th>
        </tr>
      </thead>
      <tbody>
        ${best.map(
          ({ step, position }) =>
            html`<tr>
              <td class="num">${position + 1}</td>
              <td class="mono">${pathName(step.node)}</td>
              <td>${opChip(step.op, colours)}</td>
              <td class="num">${formatTime(step.durationUs)}</td>
              <td class="bar-cell">
                ${shareBar(path.lengthUs > 0 ? step.durationUs / path.lengthUs : 0, colours.of(step.op))}
              </td>
              <td class="num">${formatTime(step.savingIfTwiceAsFastUs)}</td>
            </tr>`,
        )}
      </tbody>
    </table>
    ${path.steps.length > PATH_ROWS ? html`<p class="note">and ${path.steps.length - PATH_ROWS} more steps on the path (hover the strip above for each).</p>` : ''}
    <h3>Least slack off the path</h3>
    ${offPath.length === 0 ? html`<p class="note">Every step is on the path: the graph is one chain.</p>` : slackTable(offPath, colours)}
  </section>`;
}

function pathStrip(profile: Profile, colours: OpColours): Html {
  const path = profile.criticalPath;
  const x = linearScale(path.lengthUs, [FRAME.left, FRAME.left + FRAME.width], 10, true);
  let at = 0;
  const rects = path.steps.map((step, i) => {
    const left = x(at);
    at += step.durationUs;
    return html`<rect
      class="path-step"
      x="${left}"
      y="${FRAME.top}"
      width="${Math.max(MIN_STEP_WIDTH, x(at) - left)}"
      height="${FRAME.height}"
      fill="${colours.of(step.op)}"
      >${tooltip([
        `#${i + 1} ${step.node} · ${step.op}`,
        `${formatTime(step.durationUs)} (${formatPercent(path.lengthUs > 0 ? step.durationUs / path.lengthUs : 0)} of the path)`,
        `saves ${formatTime(step.savingIfTwiceAsFastUs)} if twice as fast`,
      ])}</rect
    >`;
  });
  return svgChart(
    'path-strip',
    WIDTH,
    FRAME.top + FRAME.height + 44,
    'the critical path, step by step',
    html`${xAxis(x, FRAME, formatMs, 'along the critical path (ms)')}${rects}`,
  );
}

function slackTable(steps: Profile['criticalPath']['slack'], colours: OpColours): Html {
  return html`<table class="slack">
    <thead>
      <tr>
        <th>node</th>
        <th>operator</th>
        <th class="num">time</th>
        <th class="num">earliest start</th>
        <th class="num">slack</th>
      </tr>
    </thead>
    <tbody>
      ${steps.map(
        (s) =>
          html`<tr>
            <td class="mono">${pathName(s.node)}</td>
            <td>${opChip(s.op, colours)}</td>
            <td class="num">${formatTime(s.durationUs)}</td>
            <td class="num">${formatTime(s.earliestStartUs)}</td>
            <td class="num">${formatTime(s.slackUs)}</td>
          </tr>`,
      )}
    </tbody>
  </table>`;
}
