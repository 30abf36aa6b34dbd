/**
 * Runner process for onnxruntime-web on its WebAssembly backend (see runner-host.ts). Its worker
 * threads keep spinning after a run, which is why every system gets a process of its own.
 */

import { serveRunner } from './runner-host.js';
import { importPeer, peerFeeds } from './peer-module.js';

serveRunner(async ({ model, threads, feeds }) => {
  const ort = await importPeer<typeof import('onnxruntime-web')>('onnxruntime-web');
  ort.env.wasm.numThreads = threads;
  const session = await ort.InferenceSession.create(model, { executionProviders: ['wasm'] });
  const tensors = peerFeeds(ort.Tensor, feeds);
  return () => session.run(tensors);
});
