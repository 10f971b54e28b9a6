/**
 * One reader thread of the bandwidth probe (bandwidth.ts). It owns the span [start, end) of the shared memory and, on
 * each `run` message, reads all of it once with the wasm read kernel, 1 MiB per call (many short calls let V8 tier the
 * kernel up from Liftoff to TurboFan during the untimed warm-up pass), then answers with the checksum.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { instantiateReadKernel, type WasmMemory, type WasmModule } from './read-kernel.js';

export interface BandwidthWorkerData {
  readonly module: WasmModule;
  readonly memory: WasmMemory;
  readonly start: number;
  readonly end: number;
  readonly callBytes: number;
}

export interface BandwidthWorkerReply {
  readonly checksum: number;
}

const d = workerData as BandwidthWorkerData;
const kernel = instantiateReadKernel(d.module, d.memory);

function readSpan(): number {
  let checksum = 0;
  for (let p = d.start; p < d.end; p += d.callBytes) checksum = (checksum + kernel.sum(p, Math.min(d.end, p + d.callBytes))) >>> 0;
  return checksum;
}

parentPort!.on('message', () => {
  const reply: BandwidthWorkerReply = { checksum: readSpan() };
  parentPort!.postMessage(reply);
});
