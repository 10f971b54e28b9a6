/**
 * `node dist/src/numerics/conformance/run.js [--backend NAME] [--failures]`: runs the conformance suite on every
 * available backend (or only NAME) against `ref`, prints a table per backend (case, max abs, max rel, tolerance, ok)
 * and exits 1 when any case fails, 2 on a bad argument. `--failures` prints only the failing cases. For checking a
 * backend on new hardware; no CLI framework, no network.
 */
import { pathToFileURL } from 'node:url';
import { isTandemError, TandemError } from '../../errors.js';
import { availableBackends, findBackend, withBackend } from './backends.js';
import { conformanceCases, runConformance } from './index.js';
import { formatFailure, formatTable } from './report.js';

interface RunOptions {
  readonly backend?: string;
  readonly failuresOnly: boolean;
}

function parseArgs(argv: readonly string[]): RunOptions {
  let backend: string | undefined;
  let failuresOnly = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--backend' && argv[i + 1] !== undefined) backend = argv[++i];
    else if (a.startsWith('--backend=')) backend = a.slice('--backend='.length);
    else if (a === '--failures') failuresOnly = true;
    else throw new TandemError('BAD_ARGUMENT', `unknown argument "${a}"; usage: run.js [--backend NAME] [--failures]`);
  }
  return backend === undefined ? { failuresOnly } : { backend, failuresOnly };
}

/** Runs the suite; returns the process exit code (0 all pass, 1 some case failed). */
export async function main(argv: readonly string[], print: (line: string) => void = console.log): Promise<number> {
  const opts = parseArgs(argv);
  const entries = opts.backend !== undefined ? [await findBackend(opts.backend)] : await availableBackends();
  let failed = 0;
  for (const entry of entries) {
    const results = await withBackend(entry, (backend) => {
      const t0 = performance.now();
      const r = runConformance(backend, undefined, conformanceCases());
      print(`== backend ${backend.name} vs ref: ${r.filter((x) => x.pass).length}/${r.length} cases pass (${(performance.now() - t0).toFixed(0)} ms)`);
      return r;
    });
    const bad = results.filter((r) => !r.pass);
    failed += bad.length;
    if (!opts.failuresOnly) print(formatTable(results));
    else if (bad.length > 0) print(bad.map(formatFailure).join('\n'));
  }
  return failed > 0 ? 1 : 0;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (e: unknown) => {
      if (!isTandemError(e)) throw e;
      console.error(`error[${e.code}]: ${e.message}`);
      process.exitCode = 2;
    },
  );
}
