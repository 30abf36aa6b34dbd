/**
 * A pool worker thread. It instantiates every module the pool has loaded on the pool's shared
 * memory, then loops without returning to its event loop: wait for the next job (spinning, then
 * parked), enter it (unless it is over already: a run job does not wait for a late worker), run
 * its share of the tiles, leave. A `load` job brings the bytes of a new module
 * through the worker's own message port, read synchronously. A kernel that traps is not caught:
 * the thread dies, and the pool fails the job and replaces the worker.
 */

import { parentPort, receiveMessageOnPort, workerData, type MessagePort } from 'node:worker_threads';
import { webAssembly, type WasmMemory } from '../../../core/webassembly.js';
import { ControlBlock, JobKind } from './control.js';
import { functionExports } from './exports.js';

export interface PoolWorkerData {
  control: SharedArrayBuffer;
  threads: number;
  thread: number;
  memory: WasmMemory;
  modules: Uint8Array[];
  port: MessagePort;
}

const setup = workerData as PoolWorkerData;
const control = new ControlBlock(setup.control, setup.threads);
const kernels = setup.modules.map(instantiate);
let seen = control.generation;
parentPort!.postMessage('ready');

for (;;) {
  seen = control.awaitJob(seen);
  // A run job whose tiles others have all taken is over without this thread.
  if (!control.enter(setup.thread, seen)) continue;
  const kind = control.kind;
  if (kind === JobKind.exit) break;
  if (kind === JobKind.load) {
    kernels.push(instantiate(nextModuleBytes()));
    control.finish(setup.thread, seen);
  } else {
    control.runShare(setup.thread, kernels[control.module][control.exportIndex]);
  }
  control.leave(setup.thread);
}
setup.port.close();

function instantiate(bytes: Uint8Array) {
  return functionExports(
    new webAssembly.Instance(new webAssembly.Module(bytes), { env: { memory: setup.memory } }),
  );
}

function nextModuleBytes(): Uint8Array {
  const received = receiveMessageOnPort(setup.port);
  if (received === undefined) throw new Error('the pool released a load job without posting the module');
  return received.message as Uint8Array;
}
