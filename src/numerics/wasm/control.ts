/**
 * The control block shared by the main thread and the kernel workers: one 128-byte slot (32 int32) per worker, so
 * slots never share a cache line. The main thread writes a job's arguments, then bumps SEQ and notifies; the worker
 * runs it, stores SEQ into DONE and notifies back. No postMessage per call.
 */
export const SLOT = 32;
export const SEQ = 0; // job sequence number, written by the main thread
export const DONE = 1; // last finished sequence number, written by the worker
export const OP = 2; // OP_*
export const ERR = 3; // 1 when the job failed (message on the worker's port)
export const SPIN_US = 4; // how long the worker spins before sleeping, µs
export const ARGS = 8; // matmul arguments: ARGS + 0 .. ARGS + 13 (shard, then the kernel's 13 parameters)
export const GS = ARGS + 13; // the one float argument (read through a Float32Array view)

export const OP_MATMUL = 1;
export const OP_EXIT = 2;
export const OP_SSD = 3; // ssdChunk over a head range: ARGS + 0 .. ARGS + 16 (shard, then the kernel's 16 parameters)

/** The most int32 arguments a job can carry (the rest of its slot after ARGS). */
export const MAX_ARGS = SLOT - ARGS;

/** Arguments of the `matmul` kernel export, plus the shard (memory) it runs on. */
export interface MatmulJob {
  readonly shard: number;
  readonly fmt: number;
  readonly w: number;
  readonly x: number;
  readonly out: number;
  readonly colsP: number;
  readonly T: number;
  readonly g0: number;
  readonly g1: number;
  readonly os: number;
  readonly tile: number;
  readonly rs: number;
  readonly tbl: number;
  readonly gs: number;
}

/** Writes integer arguments into slot `base` from ARGS on (pointers above 2 GiB wrap to negative int32: the same bits). */
export function writeArgs(ctrl: Int32Array, base: number, args: readonly number[]): void {
  if (args.length > MAX_ARGS) throw new RangeError(`a kernel job takes at most ${MAX_ARGS} arguments, not ${args.length}`);
  args.forEach((v, k) => (ctrl[base + ARGS + k] = v));
}

/** Writes a job's arguments into slot `base` (pointers above 2 GiB wrap to negative int32: the same bits). */
export function writeJob(ctrl: Int32Array, f32: Float32Array, base: number, j: MatmulJob): void {
  const a = base + ARGS;
  ctrl[a] = j.shard;
  ctrl[a + 1] = j.fmt;
  ctrl[a + 2] = j.w;
  ctrl[a + 3] = j.x;
  ctrl[a + 4] = j.out;
  ctrl[a + 5] = j.colsP;
  ctrl[a + 6] = j.T;
  ctrl[a + 7] = j.g0;
  ctrl[a + 8] = j.g1;
  ctrl[a + 9] = j.os;
  ctrl[a + 10] = j.tile;
  ctrl[a + 11] = j.rs;
  ctrl[a + 12] = j.tbl;
  f32[base + GS] = j.gs;
}
