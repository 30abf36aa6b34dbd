/**
 * A measured system seen from `heddle bench`: the `SystemRunner` interface, and its real
 * implementation, a forked runner process speaking the protocol of protocol.ts. Tests substitute
 * fake runners behind the same interface.
 */

import { fork, type ChildProcess } from 'node:child_process';
import type {
  BatchResult,
  LoadRequest,
  RunRequest,
  RunnerReply,
  RunnerRequest,
  ServeRequest,
} from './protocol.js';

export const SYSTEMS = ['heddle', 'onnxruntime-node', 'onnxruntime-web'] as const;
export type SystemName = (typeof SYSTEMS)[number];

export interface SystemRunner {
  readonly system: string;
  /** Creates the session; resolves to its creation time in milliseconds. */
  load(): Promise<number>;
  measure(request: RunRequest | ServeRequest): Promise<BatchResult>;
  close(): void;
}

export function forkRunner(system: SystemName, load: LoadRequest): SystemRunner {
  const script = new URL(`./runner-${system}.js`, import.meta.url);
  const child = fork(script, [], { serialization: 'advanced', stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  const stderr: string[] = [];
  child.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
  const ask = (request: RunnerRequest) => exchange(child, request, () => stderr.join('').trim());
  return {
    system,
    load: async () => expectReply(await ask(load), 'loaded').createMs,
    measure: async (request) => expectReply(await ask(request), 'batch'),
    close: () => child.kill(),
  };
}

function exchange(child: ChildProcess, request: RunnerRequest, stderr: () => string): Promise<RunnerReply> {
  return new Promise((resolve, reject) => {
    const onMessage = (reply: RunnerReply) => {
      child.off('exit', onExit);
      resolve(reply);
    };
    const onExit = (code: number | null, signal: string | null) => {
      child.off('message', onMessage);
      const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      const output = stderr();
      reject(new Error(`the runner process ${how}${output ? `: ${lastLine(output)}` : ''}`));
    };
    child.once('message', onMessage);
    child.once('exit', onExit);
    child.send(request);
  });
}

function expectReply<Kind extends RunnerReply['kind']>(
  reply: RunnerReply,
  kind: Kind,
): Extract<RunnerReply, { kind: Kind }> {
  if (reply.kind === 'failed') throw new Error(reply.reason);
  if (reply.kind !== kind) throw new Error(`the runner answered '${reply.kind}' where '${kind}' was due`);
  return reply as Extract<RunnerReply, { kind: Kind }>;
}

function lastLine(text: string): string {
  return text.split('\n').at(-1)!;
}
