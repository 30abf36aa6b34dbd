/** Runner process for onnxruntime-node, the native onnxruntime (see runner-host.ts). */

import { serveRunner } from './runner-host.js';
import { importPeer, peerFeeds } from './peer-module.js';

serveRunner(async ({ model, threads, feeds }) => {
  const ort = await importPeer<typeof import('onnxruntime-node')>('onnxruntime-node');
  const session = await ort.InferenceSession.create(model, {
    executionProviders: ['cpu'],
    intraOpNumThreads: threads,
  });
  const tensors = peerFeeds(ort.Tensor, feeds);
  return () => session.run(tensors);
});
