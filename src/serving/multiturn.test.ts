/**
 * The multiturn workload (`tandem bench serve --workload multiturn`) against a fake OpenAI-compatible SSE server
 * (node:http) that reports usage.prompt_tokens = ⌈chars / 4⌉ and prompt_tokens_details.cached_tokens = ⌊longest
 * common prefix with any earlier prompt / 4⌋: the workload's structure (shared system prompt, growing history,
 * branches, think time), per-turn TTFT rows, hit rate and oracle on a scripted case, stable JSON keys, and the CLI.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isTandemError } from '../errors.js';
import {
  BENCH_MULTITURN_KEYS, BENCH_MULTITURN_TURN_KEYS, longestPrefixWithEarlier, oracleShares, planParents,
  resolveMultiturnOptions, runMultiturn, type MultiturnReport, type TurnInfo,
} from './multiturn.js';
import { spawnCli, type CliRun } from '../testing/cli-process.js';

interface Arrival {
  readonly prompt: string;
  readonly body: Record<string, unknown>;
  readonly arrivedAt: number;
  endedAt: number;
}

interface Fake {
  readonly url: string;
  readonly arrivals: Arrival[];
  close(): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const sse = (res: ServerResponse, data: unknown): boolean => res.write(`data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`);

function lcp(a: string, b: string): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

/** `cached: false` leaves prompt_tokens_details out (a server without a cache). */
async function fakeServer(opts: { cached?: boolean; ttftMs?: number } = {}): Promise<Fake> {
  const arrivals: Arrival[] = [];
  const seen: string[] = [];
  const server = createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/v1/models') {
      res.writeHead(200, { 'content-type': 'application/json' });
      return void res.end(JSON.stringify({ object: 'list', data: [{ id: 'fake-model', object: 'model' }] }));
    }
    let raw = '';
    req.setEncoding('utf8').on('data', (d: string) => (raw += d));
    req.on('end', () => {
      void (async () => {
        const body = JSON.parse(raw) as Record<string, unknown>;
        const prompt = String(body.prompt);
        const a: Arrival = { prompt, body, arrivedAt: performance.now(), endedAt: 0 };
        const n = arrivals.push(a) - 1;
        const best = seen.reduce((m, s) => Math.max(m, lcp(prompt, s)), 0);
        seen.push(prompt);
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        await sleep(opts.ttftMs ?? 1);
        const max = Number(body.max_tokens);
        for (let i = 0; i < max; i++) sse(res, { choices: [{ index: 0, text: ` r${n}t${i}`, finish_reason: null }] });
        sse(res, { choices: [{ index: 0, text: '', finish_reason: 'length' }] });
        const usage: Record<string, unknown> = { prompt_tokens: Math.ceil(prompt.length / 4), completion_tokens: max };
        if (opts.cached !== false) usage.prompt_tokens_details = { cached_tokens: Math.floor(best / 4) };
        sse(res, { choices: [], usage });
        a.endedAt = performance.now();
        sse(res, '[DONE]');
        res.end();
      })();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`, arrivals,
    close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

const servers: Fake[] = [];
async function serve(opts?: Parameters<typeof fakeServer>[0]): Promise<Fake> {
  const f = await fakeServer(opts);
  servers.push(f);
  return f;
}
after(() => Promise.all(servers.map((s) => s.close())));

const close = (a: number | null, b: number, tol = 1e-9): void => assert.ok(a !== null && Math.abs(a - b) <= tol, `${a} ≉ ${b}`);

test('oracle: longest common prefix with any earlier prompt, resends count whole', () => {
  assert.deepEqual(longestPrefixWithEarlier(['abcd', 'abxy', 'abcd', 'zz', 'abcdef', 'ab']), [0, 2, 4, 0, 4, 2]);
  assert.deepEqual(oracleShares(['abcd', 'abxy', 'abcd', 'zz']), [0, 0.5, 1, 0]);
  // Extra strings (a prompt followed by its answer) join the set after their request.
  assert.deepEqual(longestPrefixWithEarlier(['sys u1', 'sys u1 a1 u2'], [['sys u1', 'sys u1 a1'], ['x']]), [0, 9]);
  // Against brute force on random strings over a small alphabet.
  let seed = 7;
  const rnd = (): number => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  const qs = Array.from({ length: 200 }, () => Array.from({ length: 1 + Math.floor(rnd() * 12) }, () => 'ab'[Math.floor(rnd() * 2)]).join(''));
  const brute = qs.map((q, i) => qs.slice(0, i).reduce((m, s) => Math.max(m, lcp(q, s)), 0));
  assert.deepEqual(longestPrefixWithEarlier(qs), brute);
});

test('plan: turn 0 starts from the system prompt, turn 1 from turn 0, branches fork from an earlier turn', () => {
  for (let s = 0; s < 50; s++) {
    const p = planParents(3, s, 8, 0.5);
    assert.deepEqual(p.slice(0, 2), [-1, 0]);
    p.forEach((q, t) => t > 0 && assert.ok(q >= 0 && q <= t - 1));
  }
  assert.deepEqual(planParents(3, 1, 8, 0.5), planParents(3, 1, 8, 0.5));
  assert.deepEqual(planParents(3, 1, 8, 0), [-1, 0, 1, 2, 3, 4, 5, 6]);
  const branched = Array.from({ length: 200 }, (_, s) => planParents(9, s, 6, 0.2)).flat().filter((q, i) => i % 6 >= 2 && q !== (i % 6) - 1).length;
  assert.ok(branched > 0.1 * 800 && branched < 0.3 * 800, `${branched} of 800 eligible turns branched`);
  const e = (() => { try { resolveMultiturnOptions({ url: 'http://x', branchProb: 2 }); } catch (err) { return err; } })();
  assert.ok(isTandemError(e) && /--branch-prob/.test(e.message));
  assert.equal(resolveMultiturnOptions({ url: 'http://x', sessions: 5 }).concurrency, 5);
});

test('workload: shared system prompt, growing history with answers, branches, think time, per-turn rows', async () => {
  const fake = await serve();
  const turns: TurnInfo[] = [];
  const r = await runMultiturn(
    { url: fake.url, sessions: 4, turns: 5, concurrency: 2, systemTokens: 40, turnTokens: 8, outputTokens: 3, thinkMs: 30, branchProb: 0.5, seed: 11, warmup: 0 },
    { onTurn: (t) => turns.push(t) },
  );
  assert.equal(fake.arrivals.length, 20);
  assert.deepEqual([r.num_requests, r.completed, r.failed, r.sessions, r.turns, r.max_concurrency], [20, 20, 0, 4, 5, 2]);
  assert.ok(r.peak_concurrency <= 2);
  for (const a of fake.arrivals) assert.deepEqual([a.body.stream, a.body.ignore_eos, a.body.max_tokens, a.body.temperature], [true, true, 3, 0]);
  // Every prompt starts with the same system prompt; the system prompt is ~40 tokens at 1.3 tokens/word = 31 words.
  const t0 = turns.filter((t) => t.turn === 0);
  const system = t0[0]!.prompt.slice(0, t0[0]!.prompt.indexOf('\n\nUser: '));
  assert.equal(system.split(' ').length, 31);
  for (const t of turns) assert.ok(t.prompt.startsWith(system + '\n\nUser: '));
  // Each turn extends its parent's prompt + answer by one user message; branches fork from an earlier turn.
  const bySession = new Map<number, TurnInfo[]>();
  for (const t of turns) bySession.set(t.session, [...(bySession.get(t.session) ?? []), t]);
  let branches = 0;
  for (const [s, ts] of bySession) {
    assert.deepEqual(ts.map((t) => t.turn), [0, 1, 2, 3, 4]);
    assert.deepEqual(ts.map((t) => t.parent), planParents(11, s, 5, 0.5));
    for (const t of ts) {
      assert.equal(t.prompt.match(/\n\nUser: /g)!.length, t.parent < 0 ? 1 : ts[t.parent]!.prompt.match(/\n\nUser: /g)!.length + 1);
      if (t.parent < 0) continue;
      const p = ts[t.parent]!;
      assert.ok(p.record.text !== undefined && / r\d+t2$/.test(p.record.text));
      assert.ok(t.prompt.startsWith(p.prompt + p.record.text + '\n\nUser: '), `session ${s} turn ${t.turn} extends turn ${t.parent}`);
      assert.match(t.prompt.slice((p.prompt + p.record.text).length), /^\n\nUser: (\w+ ){5}\w+\nAssistant:$/);
      if (t.branched) branches++;
      assert.equal(t.branched, t.parent !== t.turn - 1);
    }
    // Think time: a session's next turn arrives ≥ thinkMs after its previous answer ended at the server.
    for (let i = 1; i < ts.length; i++) {
      const prev = fake.arrivals.find((a) => a.prompt === ts[i - 1]!.prompt)!;
      const next = fake.arrivals.find((a) => a.prompt === ts[i]!.prompt)!;
      assert.ok(next.arrivedAt - prev.endedAt >= 29, `think time ${next.arrivedAt - prev.endedAt} ms`);
    }
  }
  assert.ok(branches > 0, 'seed 11 at branch-prob 0.5 has branches');
  assert.equal(r.branched, branches);
  // Growing context: mean prompt tokens rise with the turn index.
  assert.deepEqual(r.per_turn.map((t) => t.turn), [0, 1, 2, 3, 4]);
  for (const row of r.per_turn) {
    assert.deepEqual(Object.keys(row), BENCH_MULTITURN_TURN_KEYS);
    assert.equal(row.requests, 4);
    assert.ok(row.p50_ttft_ms !== null && row.p90_ttft_ms !== null && row.p90_ttft_ms >= row.p50_ttft_ms);
  }
  assert.ok(r.per_turn[1]!.mean_input_tokens! > r.per_turn[0]!.mean_input_tokens!);
  assert.deepEqual(Object.keys(r), BENCH_MULTITURN_KEYS);
});

test('hit rate and oracle: computed from usage and from the prompts, as scripted', async () => {
  const fake = await serve();
  const r = await runMultiturn({ url: fake.url, sessions: 3, turns: 4, concurrency: 1, systemTokens: 60, turnTokens: 10, outputTokens: 2, thinkMs: 0, branchProb: 0.3, seed: 5, warmup: 1 });
  // Arrival 0 is the warm-up: the fake still counts it as seen, so the expected values start after it.
  const measured = fake.arrivals.slice(1);
  assert.equal(measured.length, 12);
  const seen: string[] = [fake.arrivals[0]!.prompt];
  let prompt = 0;
  let cached = 0;
  let oracle = 0;
  const order: string[] = [];
  for (const a of measured) {
    const p = Math.ceil(a.prompt.length / 4);
    prompt += p;
    cached += Math.floor(seen.reduce((m, s) => Math.max(m, lcp(a.prompt, s)), 0) / 4);
    oracle += (order.reduce((m, s) => Math.max(m, lcp(a.prompt, s)), 0) / a.prompt.length) * p;
    seen.push(a.prompt);
    order.push(a.prompt);
  }
  assert.equal(r.total_input_tokens, prompt);
  assert.equal(r.total_cached_tokens, cached);
  close(r.hit_rate, cached / prompt);
  close(r.oracle_hit_rate, oracle / prompt);
  close(r.captured, cached / oracle);
  assert.ok(r.oracle_hit_rate! > 0.5 && r.captured! > 0.9 && r.captured! <= 1.01, JSON.stringify([r.hit_rate, r.oracle_hit_rate]));
  assert.ok(r.oracle_hit_rate_with_outputs! >= r.oracle_hit_rate!);
  const perTurnCached = r.per_turn.reduce((a, t) => a + t.cached_tokens, 0);
  assert.equal(perTurnCached, cached);
  assert.equal(r.tokens_per_word, Math.ceil(fake.arrivals[0]!.prompt.length / 4) / fake.arrivals[0]!.prompt.split(' ').length);
});

test('a server without prompt_tokens_details: hit rate 0, oracle unchanged', async () => {
  const fake = await serve({ cached: false });
  const r = await runMultiturn({ url: fake.url, sessions: 2, turns: 3, systemTokens: 30, turnTokens: 5, outputTokens: 2, thinkMs: 0, warmup: 0 });
  assert.deepEqual([r.completed, r.total_cached_tokens, r.hit_rate, r.captured], [6, 0, 0, 0]);
  assert.ok(r.oracle_hit_rate! > 0.5);
});

// ── CLI ────────────────────────────────────────────────────────────────────────────────────────────────────────────

const cli = (args: string[]): Promise<CliRun> => spawnCli(args);

test('CLI: bench serve --workload multiturn --json prints the report; the table has per-turn rows', async () => {
  const fake = await serve();
  const base = ['bench', 'serve', '--workload', 'multiturn', '--url', fake.url, '--sessions', '3', '--turns', '3', '--system-tokens', '30', '--turn-tokens', '6', '--output-tokens', '2', '--think-ms', '5'];
  const j = await cli([...base, '--json']);
  assert.equal(j.status, 0, j.stderr);
  const r = JSON.parse(j.stdout) as MultiturnReport;
  assert.deepEqual(Object.keys(r), BENCH_MULTITURN_KEYS);
  assert.deepEqual([r.workload, r.sessions, r.turns, r.max_concurrency, r.completed, r.output_tokens, r.think_ms, r.model], ['multiturn', 3, 3, 3, 9, 2, 5, 'fake-model']);
  assert.equal(r.per_turn.length, 3);
  assert.ok(r.hit_rate! > 0 && r.oracle_hit_rate! > 0);
  const t = await cli(base);
  assert.equal(t.status, 0, t.stderr);
  for (const label of ['Hit rate', 'Oracle hit rate', 'Captured', 'TTFT p50', 'TTFT p90']) assert.ok(t.stdout.includes(label), `${label} in\n${t.stdout}`);
  const bad = await cli(['bench', 'serve', '--workload', 'nope', '--url', fake.url]);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr.trim(), /^error\[BAD_ARGUMENT\]: --workload must be fixed or multiturn, got "nope"$/);
});
