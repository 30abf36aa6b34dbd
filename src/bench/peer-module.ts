/**
 * Loading an optional peer package, with a clear message when it is not installed, and turning the
 * shared feeds into the peer's tensors.
 */

import type { FeedData } from './protocol.js';

export async function importPeer<Module>(name: string): Promise<Module> {
  try {
    return (await import(name)) as Module;
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND')
      throw new Error(`${name} is not installed (npm install --save-dev ${name})`);
    throw error;
  }
}

/** onnxruntime's Tensor constructor, as both onnxruntime-node and onnxruntime-web export it. */
type PeerTensorClass<T> = new (type: never, data: never, dims: readonly number[]) => T;

export function peerFeeds<T>(TensorClass: PeerTensorClass<T>, feeds: readonly FeedData[]): Record<string, T> {
  return Object.fromEntries(
    feeds.map((feed) => [feed.name, new TensorClass(feed.type as never, feed.data as never, feed.dims)]),
  );
}
