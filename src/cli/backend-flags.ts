/** `--backend` / `--threads` for the commands that run a model (run, logprobs, serve, worker). */
import { Option, type Command } from 'commander';
import { BACKEND_NAMES, createBackend, type BackendName, type OwnedBackend } from '../numerics/select.js';
import { intOption } from './options.js';

export interface BackendFlags {
  readonly backend?: BackendName;
  readonly threads?: number;
}

export function addBackendOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--backend <name>', 'compute backend: auto (native when its optional addon was built, else wasm SIMD, else ref), native, wasm, ref (reference)').choices([...BACKEND_NAMES]).default('auto'))
    .option('--threads <n>', 'compute threads for the native and wasm backends (default: all CPUs)', intOption('--threads', 1));
}

/** The backend the flags ask for; `auto` falls back to ref with a one-line notice on stderr. */
export function openBackend(f: BackendFlags): Promise<OwnedBackend> {
  return createBackend(f.backend ?? 'auto', f.threads !== undefined ? { threads: f.threads } : {});
}
