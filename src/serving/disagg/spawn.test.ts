/** Worker command lines: the kernel V8 flags and the cache flags are passed on, nothing else of this process's. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cacheArgs, kernelFlags } from './spawn.js';

test('workers inherit the fast kernels\' V8 flags only', () => {
  assert.deepEqual(kernelFlags(['--no-liftoff', '--test-reporter=spec', '--experimental-wasm-relaxed-simd', '--inspect']), ['--no-liftoff', '--experimental-wasm-relaxed-simd']);
  assert.deepEqual(kernelFlags([]), []);
});

test('workers get the cache flags of the frontend', () => {
  assert.deepEqual(cacheArgs({ enabled: false }), ['--no-cache']);
  assert.deepEqual(cacheArgs({ enabled: true, ramBytes: 1024, disk: { dir: '/tmp/c', bytes: 2048 }, snapshotShare: 0.25, eviction: 'lru' }), [
    '--cache-ram', '1024', '--cache-disk', '/tmp/c:2048', '--cache-snapshot-share', '0.25', '--cache-eviction', 'lru',
  ]);
});
