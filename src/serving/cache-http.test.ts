/** HTTP with the context cache: cached_tokens in usage, GET /v1/cache, the per-tier cache metrics. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ContextCache } from '../cache/context-cache.js';
import { LocalEngine } from '../engine/engine.js';
import { parseCacheDisk, parseShare, parseSize } from '../cli/cache-flags.js';
import { goldenDense } from '../testing/engine-fixtures.js';
import { startServer } from './server.js';

test('http cache: a resent conversation reports cached_tokens; /v1/cache and the cache metrics are served', async () => {
  const loaded = goldenDense();
  const cache = await ContextCache.open(loaded.model, { ramBytes: 64 << 20 });
  const service = new LocalEngine(loaded, { cache });
  const server = await startServer({ service, tokenizer: loaded.tokenizer(), cache });
  try {
    const ask = async (messages: unknown[]): Promise<{ text: string; usage: { prompt_tokens: number; prompt_tokens_details: { cached_tokens: number } } }> => {
      const r = await fetch(`${server.url}/v1/chat/completions`, {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: service.modelName, messages, max_tokens: 6, temperature: 0 }),
      });
      assert.equal(r.status, 200);
      const j = (await r.json()) as { choices: { message: { content: string | null } }[]; usage: never };
      return { text: j.choices[0]!.message.content ?? '', usage: j.usage };
    };
    const first = [{ role: 'system', content: 'You are a helpful assistant that answers briefly.' }, { role: 'user', content: 'hello there' }];
    const a = await ask(first);
    assert.equal(a.usage.prompt_tokens_details.cached_tokens, 0);
    const b = await ask(first);
    assert.ok(b.usage.prompt_tokens_details.cached_tokens > 0, 'an identical resend hits');
    assert.ok(b.usage.prompt_tokens_details.cached_tokens < b.usage.prompt_tokens);
    assert.equal(b.text, a.text, 'same greedy answer');

    const summary = (await (await fetch(`${server.url}/v1/cache`)).json()) as { enabled: boolean; hits: number; tiers: { tier: string }[] };
    assert.equal(summary.enabled, true);
    assert.equal(summary.hits, 1);
    assert.deepEqual(summary.tiers.map((t) => t.tier), ['ram']);

    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    for (const name of ['cache_hit_tokens_total', 'cache_miss_tokens_total', 'cache_snapshot_hits_total', 'cache_recompute_tokens_total', 'cache_bytes', 'cache_evictions_total', 'cache_kv_bytes', 'cache_kv_evictions_total', 'cache_kv_hit_blocks_total']) {
      assert.match(metrics, new RegExp(`^tandem:${name}\\{[^}]*tier="ram"[^}]*\\} \\d+`, 'm'), name);
    }
    assert.match(metrics, /^tandem:cache_snapshot_hits_total\{[^}]*\} 1$/m);
    assert.match(metrics, /^tandem:cache_kv_hit_tokens_total\{[^}]*\} \d+$/m);
    const hits = /^tandem:prefix_cache_hits_total\{[^}]*\} (\d+)$/m.exec(metrics);
    assert.equal(Number(hits?.[1]), b.usage.prompt_tokens_details.cached_tokens);
  } finally {
    await server.close();
    await service.close();
  }
});

test('serve flags: --cache-ram and --cache-disk sizes parse', () => {
  assert.equal(parseSize('512MiB'), 512 * 2 ** 20);
  assert.equal(parseSize('2GB'), 2e9);
  assert.equal(parseSize('1024'), 1024);
  assert.throws(() => parseSize('lots'), /size/);
  assert.deepEqual(parseCacheDisk('/tmp/a:b:1GiB'), { dir: '/tmp/a:b', bytes: 2 ** 30 });
  assert.throws(() => parseCacheDisk('nosize'), /DIR:SIZE/);
  assert.equal(parseShare('0.25'), 0.25);
  for (const bad of ['1', '0', '1.5', 'half', '-0.2']) assert.throws(() => parseShare(bad), /--cache-snapshot-share must be a fraction/);
});
