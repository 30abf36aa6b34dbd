/** Runner process for Heddle itself (see runner-host.ts). */

import type { DataType } from '../core/dtype.js';
import { Tensor } from '../core/tensor.js';
import { InferenceSession } from '../runtime/session.js';
import { serveRunner } from './runner-host.js';

serveRunner(async ({ model, threads, backends, tuning, feeds }) => {
  const session = await InferenceSession.create(model, {
    executionProviders: backends,
    intraOpNumThreads: threads,
    tuning,
  });
  const tensors = Object.fromEntries(
    feeds.map((feed) => [
      feed.name,
      new Tensor(feed.type as DataType, feed.data as Tensor['data'], feed.dims),
    ]),
  );
  return () => session.run(tensors);
});
