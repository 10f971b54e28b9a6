/** The embedded registry: registration, fingerprint agreement, deregistration on disconnect and on silence. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { WorkerInfo, WorkerSnapshot } from './messages.js';
import { EmbeddedRegistry, registerWithFrontend, type RegistryEvent } from './registry.js';

const info = (id: string, fingerprint = 'f'.repeat(64)): WorkerInfo => ({
  id, role: 'decode', address: '127.0.0.1:1', fingerprint, modelName: 'm', maxContext: 8, pid: 1,
});

const snapshot: WorkerSnapshot = {
  engine: { running: 1, waiting: 0, liveStates: 1, promptTokensTotal: 0, generationTokensTotal: 0, requestsFinished: {} },
  leases: 0, leasesEnded: { pulled: 0, cancelled: 0, expired: 0 }, served: { prefill: 0, decodeRemote: 0, decodeLocal: 0 },
};

test('workers register, heartbeat, and are dropped on disconnect or silence; other models are refused', async () => {
  const reg = await EmbeddedRegistry.start('127.0.0.1:0', { heartbeatTimeoutMs: 300 });
  const events: string[] = [];
  reg.watch((e: RegistryEvent) => events.push(`${e.type}:${e.worker.info.id}`));
  try {
    const a = await registerWithFrontend(reg.address, info('a'));
    const b = await registerWithFrontend(reg.address, info('b'));
    await assert.rejects(registerWithFrontend(reg.address, info('a')), /already registered/);
    await assert.rejects(registerWithFrontend(reg.address, info('c', '0'.repeat(64))), /fingerprint/);
    a.heartbeat(snapshot);
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(reg.list().map((w) => [w.info.id, w.snapshot?.engine.running]), [['a', 1], ['b', undefined]]);

    a.close();
    assert.match(await Promise.race([b.lost, new Promise<string>((r) => setTimeout(() => r('timeout'), 2000))]), /no heartbeat/);
    assert.deepEqual(reg.list(), []);
    assert.deepEqual(events, ['up:a', 'up:b', 'down:a', 'down:b']);
  } finally {
    await reg.close();
  }
});
