/**
 * Child process that times llama.cpp (node-llama-cpp 3.21.1) for `tandem bench --vs llama`. It loads the GGUF once,
 * then answers each `run` request: prompt evaluation (the whole prompt through one context sequence in batches of
 * `batchSize`, sampling the next token after the last one, as Tandem computes the last logits) and token generation
 * (one `controlledEvaluate` per token, each producing logits and a greedy token), then clears the sequence. Runs in its
 * own process because some llama.cpp model errors abort the process (specs/oracle.md). CPU only (`gpu: false`; the
 * default picks Vulkan on the reference machine), exactly `threads` threads, default KV cache and flash attention.
 */
import { createInterface } from 'node:readline';
import type { ControlledEvaluateInputItem, LlamaContextSequence, Token } from 'node-llama-cpp';
import type { LlamaInit, LlamaReply, LlamaRequest, LlamaRun } from './llama-protocol.js';

const reply = (r: LlamaReply): void => void process.stdout.write(JSON.stringify(r) + '\n');

async function open(init: LlamaInit): Promise<{ seq: LlamaContextSequence; close: () => Promise<void> }> {
  const t0 = performance.now();
  const { getLlama, getModuleVersion } = await import('node-llama-cpp');
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' as never, maxThreads: init.threads });
  const model = await llama.loadModel({ modelPath: init.model });
  const ctx = await model.createContext({
    contextSize: init.contextSize, batchSize: init.batchSize, sequences: 1, threads: { ideal: init.threads, min: init.threads },
  });
  reply({ type: 'ready', loadMs: performance.now() - t0, threads: ctx.currentThreads, contextSize: ctx.contextSize, version: await getModuleVersion() });
  return {
    seq: ctx.getSequence(),
    close: async () => {
      await ctx.dispose();
      await model.dispose();
      await llama.dispose();
    },
  };
}

/** Token ids travel as plain numbers; node-llama-cpp brands them. */
const tok = (t: number): Token => t as Token;
const next = (t: number): ControlledEvaluateInputItem => [tok(t), { generateNext: { token: true } }];

async function run(seq: LlamaContextSequence, r: LlamaRun): Promise<void> {
  const prompt: ControlledEvaluateInputItem[] = r.prompt.map((t, i) => (i === r.prompt.length - 1 ? next(t) : tok(t)));
  let t = performance.now();
  await seq.controlledEvaluate(prompt);
  const prefillMs = performance.now() - t;
  t = performance.now();
  for (const t of r.decode) await seq.controlledEvaluate([next(t)]);
  const decodeMs = performance.now() - t;
  await seq.clearHistory();
  reply({ type: 'result', prefillMs, decodeMs });
}

async function main(): Promise<void> {
  let session: Awaited<ReturnType<typeof open>> | undefined;
  for await (const line of createInterface({ input: process.stdin })) {
    if (line.trim() === '') continue;
    const req = JSON.parse(line) as LlamaRequest;
    if (req.type === 'init') session = await open(req);
    else if (req.type === 'run') {
      if (!session) throw new Error('run before init');
      await run(session.seq, req);
    } else break;
  }
  await session?.close();
}

main().catch((e: unknown) => {
  reply({ type: 'error', message: e instanceof Error ? e.message : String(e) });
  process.exit(2);
});
