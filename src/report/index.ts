/** The report's API: a Profile, with the trace it came from, rendered as one self-contained HTML page. */

export { renderReport } from './report.js';
