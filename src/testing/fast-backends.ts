/**
 * Every fast backend available here (listBackends() minus ref: wasm always, native where its addon was built), on 2
 * threads with every matmul split across them, for tests that must hold on each backend (oracle, invariance).
 * The caller closes them (`after(() => closeAll(backends))`).
 */
import { listBackends, type OwnedBackend } from '../numerics/select.js';

export async function fastBackends(): Promise<Array<readonly [string, OwnedBackend]>> {
  const out: Array<readonly [string, OwnedBackend]> = [];
  for (const b of listBackends()) {
    if (b.name === 'ref' || !b.available()) continue;
    out.push([b.name, await b.create({ threads: 2, minParallelBytes: 0 })]);
  }
  return out;
}

export async function closeAll(backends: ReadonlyArray<readonly [string, OwnedBackend]>): Promise<void> {
  for (const [, b] of backends) await b.close();
}
