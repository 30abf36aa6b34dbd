/** The profiler's API: building a Profile from traced runs, and comparing two. */

export { buildProfile, type ProfileInput } from './build.js';
export {
  diffProfiles,
  parseProfile,
  DIFF_METHOD,
  MIN_SAMPLES,
  type Delta,
  type DeltaStatus,
  type ProfileDiff,
} from './diff.js';
export { criticalPath } from './critical-path.js';
export { peaksOfRow, threadCount } from './peaks.js';
export * from './profile.js';
