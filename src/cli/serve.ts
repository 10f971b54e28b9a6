/**
 * `tandem serve`: the OpenAI-compatible HTTP server. Aggregated (default): one in-process `LocalEngine`.
 * With `--workers prefill=N,decode=M`: a disaggregated frontend that spawns and routes to worker processes.
 * Prints the URL once listening; SIGINT / SIGTERM close the server, then the service.
 */
import { statSync } from 'node:fs';
import type { Command } from 'commander';
import type { ContextCache } from '../cache/context-cache.js';
import { TandemError } from '../errors.js';
import { LocalEngine } from '../engine/engine.js';
import { loadModel } from '../engine/load-model.js';
import type { InferenceService } from '../engine/service.js';
import { readGgufFile } from '../formats/gguf.js';
import { startServer } from '../serving/server.js';
import { ggufTokenizerMeta } from '../text/gguf-kv.js';
import { loadTokenizerDir, tokenizerFromGguf, type TextTokenizer } from '../text/tokenizer.js';
import { defaultModelPath } from './default-model.js';
import { intOption } from './options.js';
import { addBackendOptions, openBackend, type BackendFlags } from './backend-flags.js';
import { addCacheOptions, openCache, workerCacheOptions, type CacheFlags } from './cache-flags.js';

export interface ServeFlags extends CacheFlags, BackendFlags {
  readonly model?: string;
  readonly port: number;
  readonly host: string;
  readonly apiKey?: string;
  readonly maxRunning?: number;
  readonly maxWaiting?: number;
  readonly workers?: { readonly prefill: number; readonly decode: number };
  readonly disaggThreshold?: number;
}

export { DEFAULT_CACHE_RAM, parseCacheDisk, parseSize } from './cache-flags.js';

/** "prefill=N,decode=M" (either order; prefill may be 0, decode ≥ 1). */
export function parseWorkers(v: string): { prefill: number; decode: number } {
  const counts: Record<string, number> = {};
  for (const part of v.split(',')) {
    const m = /^\s*(prefill|decode)\s*=\s*(\d+)\s*$/.exec(part);
    if (m === null || counts[m[1]!] !== undefined) {
      throw new TandemError('BAD_ARGUMENT', `--workers must look like prefill=N,decode=M, got "${v}"`);
    }
    counts[m[1]!] = Number(m[2]);
  }
  const decode = counts['decode'] ?? 0;
  if (decode < 1) throw new TandemError('BAD_ARGUMENT', `--workers needs decode=M with M ≥ 1, got "${v}"`);
  return { prefill: counts['prefill'] ?? 0, decode };
}

/** The tokenizer alone (the frontend of a disaggregated server loads no weights). */
function loadTokenizerOnly(path: string): TextTokenizer {
  if (statSync(path).isDirectory()) return loadTokenizerDir(path);
  return tokenizerFromGguf(ggufTokenizerMeta(readGgufFile(path), path));
}

interface Opened {
  readonly service: InferenceService;
  readonly tokenizer: TextTokenizer;
  readonly cache?: ContextCache;
}

async function openService(path: string, f: ServeFlags): Promise<Opened> {
  if (f.workers === undefined) {
    const loaded = loadModel(path, { backend: await openBackend(f) });
    const cache = await openCache(loaded.model, f);
    const service = new LocalEngine(loaded, {
      ...(f.maxRunning !== undefined ? { maxRunning: f.maxRunning } : {}),
      ...(f.maxWaiting !== undefined ? { maxWaiting: f.maxWaiting } : {}),
      ...(cache ? { cache } : {}),
    });
    return cache ? { service, tokenizer: loaded.tokenizer(), cache } : { service, tokenizer: loaded.tokenizer() };
  }
  const tokenizer = loadTokenizerOnly(path);
  const { startDisaggregated } = await import('../serving/disagg/frontend.js');
  const service = await startDisaggregated({
    model: path,
    prefillWorkers: f.workers.prefill,
    decodeWorkers: f.workers.decode,
    ...(f.disaggThreshold !== undefined ? { threshold: f.disaggThreshold } : {}),
    // Every worker gets the same cache flags (one shared --cache-disk directory: workers hit each other's snapshots).
    cache: workerCacheOptions(f),
  });
  return { service, tokenizer };
}

export async function serveCommand(f: ServeFlags): Promise<void> {
  const path = f.model ?? defaultModelPath((m) => process.stderr.write(m + '\n'));
  const apiKey = f.apiKey ?? process.env['TANDEM_API_KEY'];
  const { service, tokenizer, cache } = await openService(path, f);
  let server;
  try {
    server = await startServer({ service, tokenizer, port: f.port, host: f.host, apiKey, cache });
  } catch (e) {
    await service.close();
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') {
      throw new TandemError('BAD_ARGUMENT', `cannot listen on ${f.host}:${f.port} (${code}); pick another --port or --host`);
    }
    throw e;
  }
  const running = server;
  process.stdout.write(`tandem serve: ${service.modelName} listening on ${running.url} (OpenAI base URL ${running.url}/v1)\n`);
  let closing = false;
  const stop = (): void => {
    if (closing) return;
    closing = true;
    void running
      .close()
      .then(() => service.close())
      .then(() => cache?.flush())
      .then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

export function registerServe(program: Command): void {
  const cmd = program
    .command('serve')
    .description('serve the model over an OpenAI-compatible HTTP API (/v1/chat/completions, /v1/completions, /metrics)')
    .option('--model <path>', 'HF model directory or .gguf file (default: the embedded tiny model)')
    .option('--port <n>', 'port (0 = any free port)', intOption('--port', 0), 8000)
    .option('--host <host>', 'interface to listen on', '127.0.0.1')
    .option('--api-key <key>', 'require "Authorization: Bearer <key>" on /v1 (default: $TANDEM_API_KEY)')
    .option('--max-running <n>', 'requests the engine runs at once', intOption('--max-running', 1))
    .option('--max-waiting <n>', 'requests queued before 429', intOption('--max-waiting', 1))
    .option('--workers <spec>', 'disaggregated: spawn workers, e.g. prefill=1,decode=2', parseWorkers)
    .option('--disagg-threshold <tokens>', 'uncached prompt tokens from which a request is prefilled remotely', intOption('--disagg-threshold', 0));
  addBackendOptions(cmd);
  addCacheOptions(cmd, 'context cache disk tier, e.g. ~/.cache/tandem:20GiB (default off)').action((f: ServeFlags) => serveCommand(f));
}
