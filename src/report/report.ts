/**
 * `renderReport`: a Profile (and, for the timeline, the trace it was built from) as one HTML
 * page that stands alone: styles inline, every chart inline SVG, no script, nothing fetched, so
 * the file can be mailed, attached to an issue or opened years later and still read the same.
 */

import type { Profile } from '../profile/index.js';
import type { Trace } from '../telemetry/trace.js';
import { opColours } from './colours.js';
import { criticalPathSection } from './critical-path.js';
import { Html, html } from './html.js';
import { memorySection } from './memory.js';
import { operatorsSection } from './operators.js';
import { rooflineSection } from './roofline.js';
import { STYLES } from './styles.js';
import { header, phasesSection } from './summary.js';
import { timelineSection } from './timeline.js';
import { tracksSection } from './tracks.js';

export function renderReport(profile: Profile, trace?: Trace): string {
  const colours = opColours(profile);
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>Profile of ${profile.model} · Heddle</title>
        <style>
          ${new Html(STYLES)}
        </style>
      </head>
      <body>
        <main>
          ${header(profile)} ${phasesSection(profile)} ${timelineSection(profile, trace, colours)}
          ${rooflineSection(profile, colours)} ${operatorsSection(profile, colours)} ${tracksSection(profile)}
          ${criticalPathSection(profile, colours)} ${memorySection(profile)}
          <footer>Heddle profile report · ${profile.format} version ${profile.version}</footer>
        </main>
      </body>
    </html> `.text;
}
