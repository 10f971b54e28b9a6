/**
 * `tandem worker`: a prefill or decode worker for a disaggregated frontend. Loads the model into a LocalEngine,
 * listens for jobs and state pulls, registers with the frontend, and exits when the frontend goes away.
 */
import { Option, type Command } from 'commander';
import { TandemError } from '../errors.js';
import { LocalEngine } from '../engine/engine.js';
import { loadModel } from '../engine/load-model.js';
import type { Role } from '../serving/disagg/messages.js';
import { DisaggWorker } from '../serving/disagg/worker.js';
import { defaultModelPath } from './default-model.js';
import { intOption } from './options.js';
import { addBackendOptions, openBackend, type BackendFlags } from './backend-flags.js';
import { addCacheOptions, openCache, type CacheFlags } from './cache-flags.js';

export interface WorkerFlags extends CacheFlags, BackendFlags {
  readonly role: Role;
  readonly connect: string;
  readonly model?: string;
  readonly listen: string;
  readonly id?: string;
  readonly leaseMs: number;
  readonly heartbeatMs: number;
  readonly maxRunning?: number;
  readonly maxWaiting?: number;
}

export async function workerCommand(f: WorkerFlags): Promise<void> {
  const path = f.model ?? defaultModelPath((m) => process.stderr.write(m + '\n'));
  const loaded = loadModel(path, { backend: await openBackend(f) });
  const cache = await openCache(loaded.model, f);
  const engine = new LocalEngine(loaded, { maxRunning: f.maxRunning, maxWaiting: f.maxWaiting, ...(cache ? { cache } : {}) });
  const worker = await DisaggWorker.start(engine, loaded.model, {
    id: f.id ?? `${f.role}-${process.pid}`, role: f.role, connect: f.connect, listen: f.listen, leaseMs: f.leaseMs, heartbeatMs: f.heartbeatMs,
    faults: process.env.TANDEM_DISAGG_FAULTS === '1',
  }).catch((e: unknown) => {
    const why = e instanceof Error ? e.message : String(e);
    throw new TandemError('BAD_ARGUMENT', `worker could not start (${why}); check --listen and --connect, and that the frontend is running`);
  });
  const stop = (): void => void worker.close().then(() => cache?.flush()).then(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  const reason = await worker.lost;
  process.stderr.write(`tandem worker ${f.id ?? ''}: frontend gone (${reason}); exiting\n`);
  await worker.close();
  await cache?.flush();
  process.exit(0);
}

export function registerWorker(program: Command): void {
  const cmd = program
    .command('worker')
    .description('run a disaggregated prefill or decode worker that registers with a frontend')
    .addOption(new Option('--role <role>', 'prefill: prompt → transferable state; decode: pull state and generate').choices(['prefill', 'decode']).makeOptionMandatory())
    .requiredOption('--connect <host:port>', 'the frontend registry address')
    .option('--model <path>', 'HF model directory or .gguf file (default: the embedded tiny model)')
    .option('--listen <host:port>', 'address for job and state-pull connections (port 0 = any free port)', '127.0.0.1:0')
    .option('--id <id>', 'worker id (default: role-pid)')
    .option('--lease-ms <ms>', 'how long a prefilled state waits to be pulled', intOption('--lease-ms', 1), 30_000)
    .option('--heartbeat-ms <ms>', 'heartbeat interval', intOption('--heartbeat-ms', 10), 1000)
    .option('--max-running <n>', 'requests the engine runs at once', intOption('--max-running', 1))
    .option('--max-waiting <n>', 'requests the engine queues', intOption('--max-waiting', 1));
  addBackendOptions(cmd);
  addCacheOptions(cmd, 'context cache disk tier; workers may share one directory (default off)').action((f: WorkerFlags) => workerCommand(f));
}
