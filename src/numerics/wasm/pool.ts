/**
 * The kernel thread pool: `threads − 1` worker_threads over the same shared memories; the calling thread works too.
 * Handoff is through the control block (control.ts): write the job, bump SEQ, Atomics.notify; wait for DONE by
 * spinning briefly, then Atomics.wait (allowed on Node's main thread). Workers are unref'd, so an idle pool never
 * keeps the process alive; `close()` stops them for good.
 */
import { Worker, MessageChannel, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { SLOT, SEQ, DONE, OP, ERR, SPIN_US, OP_MATMUL, OP_EXIT, writeJob, writeArgs, type MatmulJob } from './control.js';

const WORKER_URL = new URL('./worker.js', import.meta.url);

export interface PoolOptions {
  /** Worker spin before sleeping, µs (default 50). */
  readonly spinUs?: number;
}

export class ThreadPool {
  readonly size: number;
  readonly #ctrl: Int32Array;
  readonly #f32: Float32Array;
  readonly #workers: Worker[];
  readonly #ports: MessagePort[];
  readonly #seq: number[];
  #closed = false;

  private constructor(size: number, sab: SharedArrayBuffer, workers: Worker[], ports: MessagePort[]) {
    this.size = size;
    this.#ctrl = new Int32Array(sab);
    this.#f32 = new Float32Array(sab);
    this.#workers = workers;
    this.#ports = ports;
    this.#seq = new Array<number>(size).fill(0);
  }

  /** Starts `size` workers on `module` over `memories` and waits until each has instantiated its kernels. */
  static async start(size: number, module: WebAssembly.Module, memories: WebAssembly.Memory[], opts: PoolOptions = {}): Promise<ThreadPool> {
    const sab = new SharedArrayBuffer(Math.max(1, size) * SLOT * 4);
    const ctrl = new Int32Array(sab);
    const workers: Worker[] = [];
    const ports: MessagePort[] = [];
    const readies: Promise<unknown>[] = [];
    for (let i = 0; i < size; i++) {
      ctrl[i * SLOT + SPIN_US] = Math.round(opts.spinUs ?? 50);
      const { port1, port2 } = new MessageChannel();
      const w = new Worker(WORKER_URL, { workerData: { module, memories, ctrl: sab, index: i, port: port2 }, transferList: [port2] });
      readies.push(once(w, 'message'));
      workers.push(w);
      ports.push(port1);
    }
    await Promise.all(readies);
    for (const w of workers) w.unref(); // ref'd until ready: an unref'd worker's first message would not keep us alive
    for (const p of ports) p.unref();
    return new ThreadPool(size, sab, workers, ports);
  }

  /** Makes a new shard memory known to every worker (they instantiate it on first use). */
  addMemory(memory: WebAssembly.Memory): void {
    for (const p of this.#ports) p.postMessage(memory);
  }

  /** Starts `job` on worker `i` (returns at once). */
  post(i: number, job: MatmulJob): void {
    const base = i * SLOT;
    this.#ctrl[base + OP] = OP_MATMUL;
    writeJob(this.#ctrl, this.#f32, base, job);
    this.#publish(i);
  }

  /** Starts kernel op `op` (control.ts OP_*) with integer arguments (the shard first) on worker `i`. */
  postOp(i: number, op: number, args: readonly number[]): void {
    const base = i * SLOT;
    this.#ctrl[base + OP] = op;
    writeArgs(this.#ctrl, base, args);
    this.#publish(i);
  }

  #publish(i: number): void {
    const base = i * SLOT;
    this.#seq[i] = (this.#seq[i]! + 1) | 0;
    Atomics.store(this.#ctrl, base + SEQ, this.#seq[i]!);
    Atomics.notify(this.#ctrl, base + SEQ, 1);
  }

  /** Waits until worker `i` has finished its last job; rethrows its error. */
  wait(i: number): void {
    const base = i * SLOT;
    const want = this.#seq[i]!;
    let done = Atomics.load(this.#ctrl, base + DONE);
    if (done !== want) {
      const t0 = performance.now();
      for (let k = 1; done !== want; k++) {
        done = Atomics.load(this.#ctrl, base + DONE);
        if ((k & 255) === 0 && performance.now() - t0 > 0.2) break;
      }
      while ((done = Atomics.load(this.#ctrl, base + DONE)) !== want) Atomics.wait(this.#ctrl, base + DONE, done, 1000);
    }
    if (this.#ctrl[base + ERR]) {
      this.#ctrl[base + ERR] = 0;
      const msg = receiveMessageOnPort(this.#ports[i]!)?.message;
      throw new Error(`wasm kernel worker ${i} failed: ${String(msg)}`);
    }
  }

  /** Stops the workers. The pool cannot be used afterwards. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (let i = 0; i < this.size; i++) {
      this.#ctrl[i * SLOT + OP] = OP_EXIT;
      this.#publish(i);
    }
    await Promise.all(this.#workers.map((w) => w.terminate()));
    for (const p of this.#ports) p.close();
  }
}
