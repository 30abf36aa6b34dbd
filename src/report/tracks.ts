/**
 * Where the tracks sat idle: each track's utilisation in the representative run (with the worker
 * states the tracer recorded), and the largest idle gaps with what each was waiting for.
 */

import type { Profile } from '../profile/index.js';
import { gapColour } from './colours.js';
import { shareBar } from './elements.js';
import { formatTime } from './format.js';
import { html, type Html } from './html.js';

export function tracksSection(profile: Profile): Html {
  const run = profile.runs.representative + 1;
  return html`<section id="tracks">
    <h2>Tracks and idle gaps</h2>
    <p class="lead">
      Time each track spent in steps, copies and compilation during run ${run}, and the longest intervals it
      sat idle, with their cause.
    </p>
    <table class="tracks">
      <thead>
        <tr>
          <th>track</th>
          <th>kind</th>
          <th class="bar-cell">utilisation</th>
          <th class="num">busy</th>
          <th>worker states</th>
        </tr>
      </thead>
      <tbody>
        ${profile.tracks.map(
          (t) =>
            html`<tr>
              <td class="mono">${t.track}</td>
              <td>${t.kind}</td>
              <td class="bar-cell">${shareBar(t.utilisation)}</td>
              <td class="num">${formatTime(t.busyUs)}</td>
              <td>${statesOf(t.states)}</td>
            </tr>`,
        )}
      </tbody>
    </table>
    <h3>Largest idle gaps</h3>
    ${profile.gaps.length === 0 ? html`<p class="note">No track sat idle during the run.</p>` : gapsTable(profile)}
  </section>`;
}

function statesOf(states: Record<string, number>): Html | string {
  const entries = Object.entries(states);
  if (entries.length === 0) return html`<span class="missing">none recorded</span>`;
  return entries.map(([state, us]) => `${state} ${formatTime(us)}`).join(' · ');
}

function gapsTable(profile: Profile): Html {
  return html`<table class="gaps">
    <thead>
      <tr>
        <th>track</th>
        <th class="num">at</th>
        <th class="num">idle</th>
        <th>cause</th>
        <th>waiting for</th>
      </tr>
    </thead>
    <tbody>
      ${profile.gaps.map(
        (gap) =>
          html`<tr>
            <td class="mono">${gap.track}</td>
            <td class="num">${formatTime(gap.startUs)}</td>
            <td class="num">${formatTime(gap.durationUs)}</td>
            <td><span class="cause" style="border-color:${gapColour(gap.cause)}">${gap.cause}</span></td>
            <td>${gap.detail}</td>
          </tr>`,
      )}
    </tbody>
  </table>`;
}
