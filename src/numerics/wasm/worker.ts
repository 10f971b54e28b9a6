/**
 * A kernel worker: instantiates the kernels on every shard memory it is given and runs matmul (and SSD scan) jobs from its control
 * slot until told to exit. It spins for a few tens of µs after each job (a futex wake costs 13–50 µs on the
 * reference VM, a spin-poll 0.5 µs) and then sleeps in Atomics.wait. New shards arrive as messages on `port`, read
 * synchronously (receiveMessageOnPort) when a job names a shard this worker has not seen yet.
 */
import { receiveMessageOnPort, workerData, parentPort, type MessagePort } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { instantiate, type KernelExports } from './kernels.js';
import { SLOT, SEQ, DONE, OP, ERR, SPIN_US, ARGS, GS, OP_MATMUL, OP_EXIT, OP_SSD } from './control.js';

interface Init {
  readonly module: WebAssembly.Module;
  readonly memories: WebAssembly.Memory[];
  readonly ctrl: SharedArrayBuffer;
  readonly index: number;
  readonly port: MessagePort;
}

const init = workerData as Init;
const ctrl = new Int32Array(init.ctrl);
const f32 = new Float32Array(init.ctrl);
const base = init.index * SLOT;
const kernels: KernelExports[] = init.memories.map((m) => instantiate(init.module, m));

/** Kernels for shard `s`, reading shard announcements until it has arrived. */
function kernelsFor(s: number): KernelExports {
  while (kernels.length <= s) {
    const msg = receiveMessageOnPort(init.port);
    if (!msg) throw new Error(`kernel worker ${init.index}: shard ${s} was never sent`);
    kernels.push(instantiate(init.module, msg.message as WebAssembly.Memory));
  }
  return kernels[s]!;
}

/** Waits until SEQ differs from `seen`: spin first, then sleep. */
function nextSeq(seen: number): number {
  let s = Atomics.load(ctrl, base + SEQ);
  if (s !== seen) return s;
  const spinMs = ctrl[base + SPIN_US]! / 1000;
  const t0 = performance.now();
  for (let i = 1; ; i++) {
    s = Atomics.load(ctrl, base + SEQ);
    if (s !== seen) return s;
    if ((i & 255) === 0 && performance.now() - t0 > spinMs) break;
  }
  while ((s = Atomics.load(ctrl, base + SEQ)) === seen) Atomics.wait(ctrl, base + SEQ, seen);
  return s;
}

function runMatmul(): void {
  const a = base + ARGS;
  const k = kernelsFor(ctrl[a]!);
  k.matmul(ctrl[a + 1]!, ctrl[a + 2]!, ctrl[a + 3]!, ctrl[a + 4]!, ctrl[a + 5]!, ctrl[a + 6]!, ctrl[a + 7]!, ctrl[a + 8]!, ctrl[a + 9]!, ctrl[a + 10]!, ctrl[a + 11]!, ctrl[a + 12]!, f32[base + GS]!);
}

/** The chunked SSD scan over one head range (mamba-ops.ts splits a chunk's heads over the threads). */
function runSsd(): void {
  const a = ctrl.subarray(base + ARGS, base + ARGS + 17);
  kernelsFor(a[0]!).ssdChunk(a[1]!, a[2]!, a[3]!, a[4]!, a[5]!, a[6]!, a[7]!, a[8]!, a[9]!, a[10]!, a[11]!, a[12]!, a[13]!, a[14]!, a[15]!, a[16]!);
}

function loop(): void {
  let seen = 0; // the main thread starts every slot's SEQ at 0 and only ever increments it
  for (;;) {
    seen = nextSeq(seen);
    const op = ctrl[base + OP];
    if (op === OP_EXIT) break;
    try {
      if (op === OP_MATMUL) runMatmul();
      else if (op === OP_SSD) runSsd();
    } catch (e) {
      ctrl[base + ERR] = 1;
      init.port.postMessage(e instanceof Error ? e.message : String(e));
    }
    Atomics.store(ctrl, base + DONE, seen);
    Atomics.notify(ctrl, base + DONE);
  }
  Atomics.store(ctrl, base + DONE, seen);
  Atomics.notify(ctrl, base + DONE);
}

parentPort!.postMessage('ready');
loop();
