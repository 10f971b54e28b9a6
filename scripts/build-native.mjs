#!/usr/bin/env node
/**
 * Install-time build of the optional native backend (native/: a node-gyp addon). It never fails the install: when
 * anything is missing (sources, node-gyp, Node headers, a C++ compiler, Python) or the build fails, it prints one line
 * and exits 0, and Tandem uses the wasm backend. It never downloads: node-gyp is pointed at the headers of the Node
 * that runs it (npm's `nodedir`, else <node prefix>/include/node) and the build is skipped when they are not there.
 *
 *   node scripts/build-native.mjs      build or rebuild (the package's `install` script runs this)
 *   TANDEM_SKIP_NATIVE=1 npm ci        skip the build
 *
 * The full compiler log goes to native/build-native.log.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const nativeDir = join(root, 'native');
const addonPath = join(nativeDir, 'build', 'Release', 'tandem_native.node');
const logPath = join(nativeDir, 'build-native.log');
const FALLBACK = 'Tandem will use the wasm backend';

/** Prints the one line and ends the script with status 0, whatever happened. */
function done(line) {
  console.log(`tandem: ${line}`);
  process.exit(0);
}

function findNodeGyp() {
  const candidates = [
    process.env.npm_config_node_gyp,
    join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
    join(dirname(process.execPath), 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'), // Windows layout
  ];
  return candidates.find((p) => p && existsSync(p));
}

/** A Node installation prefix whose include/node has node_api.h, so node-gyp needs nothing from the network. */
function findNodeDir() {
  const candidates = [process.env.npm_config_nodedir, resolve(dirname(process.execPath), '..'), dirname(process.execPath)];
  return candidates.find((d) => d && existsSync(join(d, 'include', 'node', 'node_api.h')));
}

/** The line of the log that says best what went wrong: a compiler error, else node-gyp's own error, else any. */
function firstError(log) {
  const lines = log.split('\n').map((l) => l.trim()).filter(Boolean);
  const compiler = lines.find((l) => /: (fatal )?error: /.test(l));
  const gyp = lines.map((l) => /^gyp ERR! stack Error: (.*)$/.exec(l)?.[1]).find(Boolean);
  const any = lines.find((l) => /error|not found|cannot|failed/i.test(l) && !/^gyp (info|WARN)/.test(l));
  return (compiler ?? gyp ?? any ?? lines.at(-1) ?? 'no output').slice(0, 200);
}

function main() {
  if (process.env.TANDEM_SKIP_NATIVE === '1') done(`native backend skipped (TANDEM_SKIP_NATIVE=1); ${FALLBACK}`);
  if (!existsSync(join(nativeDir, 'binding.gyp'))) done(`native backend not built (no native/ sources in this install); ${FALLBACK}`);
  const nodeGyp = findNodeGyp();
  if (!nodeGyp) done(`native backend not built (npm's node-gyp not found); ${FALLBACK}`);
  const nodeDir = findNodeDir();
  if (!nodeDir) done(`native backend not built (no local Node headers, include/node/node_api.h; not downloading them); ${FALLBACK}`);
  const t0 = Date.now();
  const args = [nodeGyp, 'rebuild', `--directory=${nativeDir}`, `--nodedir=${nodeDir}`, `--jobs=${availableParallelism()}`];
  const r = spawnSync(process.execPath, args, { cwd: nativeDir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 15 * 60 * 1000 });
  const log = `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? `\n${r.error.message}` : ''}`;
  try {
    writeFileSync(logPath, `node ${args.join(' ')}\n${log}`);
  } catch {
    // the log is a convenience; a read-only tree still gets its one line
  }
  if (r.status !== 0 || !existsSync(addonPath)) {
    rmSync(addonPath, { force: true });
    done(`native backend not built (${firstError(log)}; log: native/build-native.log); ${FALLBACK}`);
  }
  // Load it once in a fresh process: a binary that does not load here must not be left for Tandem to trip over.
  const probe = spawnSync(process.execPath, ['-e', `process.stdout.write(require(${JSON.stringify(addonPath)}).features().best)`], { encoding: 'utf8' });
  if (probe.status !== 0) {
    rmSync(addonPath, { force: true });
    done(`native backend built but does not load (${firstError(probe.stderr ?? '')}); ${FALLBACK}`);
  }
  done(`native backend built in ${((Date.now() - t0) / 1000).toFixed(0)} s (${probe.stdout} kernels on this CPU)`);
}

try {
  main();
} catch (e) {
  done(`native backend not built (${e instanceof Error ? e.message.split('\n')[0] : String(e)}); ${FALLBACK}`);
}
