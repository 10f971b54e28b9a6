/**
 * Scheduler and step tests with a mock runner: no model, no numerics (STYLE P11). Budget split, decode-first,
 * admission limits and the 429 path, cancellation in every phase, JSON round trip of every plan and result type.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Scheduler, type PlanItem, type StepPlan, type StepResult } from './scheduler.js';
import { ServiceFullError } from './service.js';
import { step, StepFailedError } from './step.js';

const range = (n: number, from = 0): number[] => Array.from({ length: n }, (_, i) => from + i);

/** A mock output stage: every request decodes `tokensEach` tokens (token = 1000 + count), then finishes. */
function mockProcess(tokensEach: number, seen = new Map<string, number[]>()) {
  const produced = new Map<string, number>();
  return (plan: StepPlan, outputs: readonly string[]): StepResult[] =>
    plan.items.map((item, i): StepResult => {
      assert.equal(outputs[i], `ran ${item.id}`);
      if (item.kind === 'prefill') seen.set(item.id, [...(seen.get(item.id) ?? []), ...item.tokens]);
      if (item.kind === 'prefill' && !item.last) return { kind: 'progress', id: item.id };
      const n = (produced.get(item.id) ?? 0) + 1;
      produced.set(item.id, n);
      return n > tokensEach ? { kind: 'finished', id: item.id } : { kind: 'next', id: item.id, token: 1000 + n };
    });
}

const mockExecute = (plan: StepPlan): string[] => plan.items.map((i) => `ran ${i.id}`);

const summary = (plan: StepPlan): string[] =>
  plan.items.map((i) => (i.kind === 'decode' ? `D ${i.id}:${i.token}` : `P ${i.id}:${i.tokens.length}${i.last ? '!' : ''}`));

test('chunked prefill: the budget is split, decodes first, prefill chunks cut to fit', () => {
  const s = new Scheduler({ maxStepTokens: 10, maxRunning: 4 });
  s.add('a', range(3));
  s.add('b', range(30));
  const process = mockProcess(5);
  assert.deepEqual(summary(step(s, mockExecute, process)), ['P a:3!', 'P b:7']);
  assert.equal(s.phase('a'), 'decoding');
  assert.equal(s.phase('b'), 'prefilling');
  assert.deepEqual(summary(step(s, mockExecute, process)), ['D a:1001', 'P b:9']);
  s.add('c', range(4));
  s.add('d', range(2));
  // decode a (1), b gets 9 of its remaining 14, c is admitted with nothing left: it waits
  assert.deepEqual(summary(step(s, mockExecute, process)), ['D a:1002', 'P b:9']);
  assert.equal(s.phase('c'), 'waiting');
  // decode a (1), b's last 5, c is admitted with the 4 left; d gets nothing
  assert.deepEqual(summary(step(s, mockExecute, process)), ['D a:1003', 'P b:5!', 'P c:4!']);
  assert.deepEqual(summary(step(s, mockExecute, process)), ['D a:1004', 'D b:1001', 'D c:1001', 'P d:2!']);
  assert.equal(s.running, 4);
  assert.equal(s.waiting, 0);
});

test('every running decode is scheduled before any prefill', () => {
  const s = new Scheduler({ maxStepTokens: 6, maxRunning: 4 });
  for (const id of ['a', 'b', 'c']) s.add(id, [1]);
  const process = mockProcess(100);
  step(s, mockExecute, process);
  s.add('long', range(50));
  const plan = step(s, mockExecute, process);
  assert.deepEqual(summary(plan), ['D a:1001', 'D b:1001', 'D c:1001', 'P long:3']);
  const kinds = plan.items.map((i) => i.kind);
  assert.ok(kinds.lastIndexOf('decode') < kinds.indexOf('prefill'));
});

test('admission: maxRunning caps the running set; a full waiting queue throws ServiceFullError (429)', () => {
  const s = new Scheduler({ maxRunning: 2, maxWaiting: 2, maxStepTokens: 64, retryAfterSeconds: 3 });
  s.add('a', [1, 2]);
  s.add('b', [1, 2]);
  assert.throws(() => s.add('c', [1]), (e: unknown) => e instanceof ServiceFullError && e.retryAfterSeconds === 3);
  assert.throws(() => s.assertCanAdmit(), ServiceFullError);
  const process = mockProcess(3);
  step(s, mockExecute, process); // a and b admitted: the queue has room again
  s.add('c', [1]);
  s.add('d', [1]);
  assert.throws(() => s.add('e', [1]), ServiceFullError);
  step(s, mockExecute, process);
  assert.equal(s.running, 2);
  assert.equal(s.waiting, 2);
  assert.deepEqual(s.runningIds(), ['a', 'b']);
});

test('cancel works in every phase and between schedule and commit', () => {
  const s = new Scheduler({ maxStepTokens: 8, maxRunning: 2 });
  s.add('dec', [1]);
  s.add('pre', range(40));
  s.add('wait', [1, 2, 3]);
  const process = mockProcess(100);
  step(s, mockExecute, process);
  assert.deepEqual([s.phase('dec'), s.phase('pre'), s.phase('wait')], ['decoding', 'prefilling', 'waiting']);
  assert.equal(s.cancel('wait'), true);
  assert.equal(s.cancel('pre'), true);
  assert.equal(s.cancel('pre'), false);
  assert.equal(s.phase('pre'), undefined);
  assert.deepEqual(summary(step(s, mockExecute, process)), ['D dec:1001']);
  const plan = s.schedule();
  assert.equal(s.cancel('dec'), true); // cancelled while its step runs: the commit ignores it
  s.commit(plan, process(plan, mockExecute(plan)));
  assert.equal(s.hasWork, false);
  assert.deepEqual(s.schedule().items, []);
});

test('a resumed request skips prefill and decodes its first token when admitted', () => {
  const s = new Scheduler({ maxStepTokens: 4, maxRunning: 2 });
  s.addResumed('r', 77);
  assert.equal(s.phase('r'), 'waiting');
  assert.deepEqual(summary(step(s, mockExecute, mockProcess(1))), ['D r:77']);
});

test('commit rejects a missing result and progress on a last chunk', () => {
  const s = new Scheduler({ maxStepTokens: 4, maxRunning: 2 });
  s.add('a', [1, 2]);
  const plan = s.schedule();
  assert.throws(() => s.commit(plan, []), /no result/);
  const s2 = new Scheduler({ maxStepTokens: 4, maxRunning: 2 });
  s2.add('a', [1, 2]);
  assert.throws(() => s2.commit(s2.schedule(), [{ kind: 'progress', id: 'a' }]), /expected next or finished/);
});

test('step wraps a failing runner in StepFailedError carrying the plan', () => {
  const s = new Scheduler({ maxStepTokens: 4, maxRunning: 2 });
  s.add('a', [1, 2]);
  assert.throws(
    () => step(s, () => { throw new Error('boom'); }, mockProcess(1)),
    (e: unknown) => e instanceof StepFailedError && e.plan.items[0]?.id === 'a' && /boom/.test(e.message),
  );
});

test('options are validated', () => {
  assert.throws(() => new Scheduler({ maxRunning: 0 }), /maxRunning/);
  assert.throws(() => new Scheduler({ maxRunning: 32, maxStepTokens: 16 }), /maxStepTokens/);
});

test('every plan and result type survives a JSON round trip', () => {
  const s = new Scheduler({ maxStepTokens: 5, maxRunning: 3 });
  s.add('a', [1]);
  s.add('b', range(9, 10));
  s.addResumed('c', 42);
  const process = mockProcess(3);
  const kinds = new Set<string>();
  while (s.hasWork) {
    const plan = s.schedule();
    assert.deepEqual(JSON.parse(JSON.stringify(plan)), plan);
    for (const item of plan.items) kinds.add(item.kind === 'prefill' ? `prefill last=${item.last}` : 'decode');
    const results = process(plan, mockExecute(plan));
    assert.deepEqual(JSON.parse(JSON.stringify(results)), results);
    for (const r of results) kinds.add(r.kind);
    s.commit(JSON.parse(JSON.stringify(plan)) as StepPlan, JSON.parse(JSON.stringify(results)) as StepResult[]);
  }
  assert.deepEqual([...kinds].sort(), ['decode', 'finished', 'next', 'prefill last=false', 'prefill last=true', 'progress']);
});

test('simulation: random arrivals and cancels; budget and running caps hold; each prompt is prefilled exactly once', () => {
  let x = 5; // xorshift32: this test imports nothing numeric
  const rand = (n: number): number => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % n;
  };
  const s = new Scheduler({ maxStepTokens: 16, maxRunning: 4, maxWaiting: 6 });
  const seen = new Map<string, number[]>();
  const process = mockProcess(4, seen);
  const prompts = new Map<string, number[]>();
  const cancelled = new Set<string>();
  let refused = 0;
  for (let t = 0; t < 400; t++) {
    for (let k = rand(3) === 0 ? rand(4) : 0; k > 0; k--) {
      const id = `q${t}.${k}`;
      const prompt = range(1 + rand(60), t);
      try {
        s.add(id, prompt);
        prompts.set(id, prompt);
      } catch (e) {
        assert.ok(e instanceof ServiceFullError);
        refused++;
      }
    }
    if (rand(10) === 0) {
      const live = [...prompts.keys()].filter((id) => s.phase(id) !== undefined);
      const victim = live[rand(Math.max(1, live.length))];
      if (victim !== undefined && s.cancel(victim)) cancelled.add(victim);
    }
    const plan = step(s, mockExecute, process);
    const tokens = plan.items.reduce((n, i: PlanItem) => n + (i.kind === 'decode' ? 1 : i.tokens.length), 0);
    assert.ok(tokens <= s.maxStepTokens, `step ${plan.step} uses ${tokens} tokens`);
    assert.ok(s.running <= s.maxRunning);
    assert.equal(new Set(plan.items.map((i) => i.id)).size, plan.items.length, 'one item per request per step');
  }
  while (s.hasWork) step(s, mockExecute, process);
  assert.ok(refused > 0, 'the simulation should hit the admission limit');
  assert.ok(cancelled.size > 0, 'the simulation should cancel some requests');
  for (const [id, prompt] of prompts) if (!cancelled.has(id)) assert.deepEqual(seen.get(id), prompt, `prompt of ${id}`);
});
