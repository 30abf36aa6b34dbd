/** A conformance worker: runs the cases it is sent, one at a time, and posts each result back. */

import { parentPort } from 'node:worker_threads';
import { runCase, type CaseOptions } from './runner.js';

parentPort!.on('message', async (job: { dir: string; name: string; options: CaseOptions }) => {
  parentPort!.postMessage(await runCase(job.dir, job.name, job.options));
});
