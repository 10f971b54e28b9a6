/**
 * Child process for the llama.cpp oracle (node-llama-cpp 3.21.1, a dev dependency). Reads one JSON request on stdin,
 * writes one JSON response on stdout. Runs in its own process because some llama.cpp model errors abort the process.
 * Settings from specs/oracle.md: CPU only, flash attention off, F32 KV cache, 1 thread, small batches so the
 * recurrent state must carry across ubatches.
 */
import { readFileSync } from 'node:fs';
import type { OracleRequest, OracleResponse } from './llama-oracle.js';

type Probs = ReadonlyMap<number, number> | undefined;

function toLogprobs(probs: Probs, vocab: number): number[] {
  const row = new Array<number>(vocab).fill(-Infinity);
  for (const [tok, p] of probs ?? []) row[tok] = Math.log(p);
  return row;
}

async function main(): Promise<void> {
  const req = JSON.parse(readFileSync(0, 'utf8')) as OracleRequest;
  const { getLlama } = await import('node-llama-cpp');
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' as never });
  const model = await llama.loadModel({ modelPath: req.model });
  const contextOpts = {
    contextSize: Math.max(64, req.tokens.length + 8), batchSize: req.batchSize, flashAttention: false, threads: 1, sequences: 1,
    experimentalKvCacheKeyType: 'F32', experimentalKvCacheValueType: 'F32',
  } as const;
  let ctx = await model.createContext(contextOpts);
  let seq = ctx.getSequence();
  const evalRows = async (toks: readonly number[]): Promise<number[][]> => {
    const input = toks.map((t) => [t, { generateNext: { probabilities: true } }]) as unknown as Parameters<typeof seq.controlledEvaluate>[0];
    const out = await seq.controlledEvaluate(input);
    return toks.map((_t, i) => toLogprobs(out[i]?.next.probabilities as Probs, req.vocabSize));
  };
  const split = req.restoreAt ?? req.tokens.length;
  const rows = await evalRows(req.tokens.slice(0, split));
  if (req.restoreAt !== undefined && req.stateFile) {
    await seq.saveStateToFile(req.stateFile);
    await ctx.dispose();
    ctx = await model.createContext(contextOpts);
    seq = ctx.getSequence();
    await seq.loadStateFromFile(req.stateFile, { acceptRisk: true });
    rows.push(...(await evalRows(req.tokens.slice(split))));
  }
  const res: OracleResponse = { logprobs: rows.map((r) => r.map((v) => (Number.isFinite(v) ? v : -1e30))) };
  process.stdout.write(JSON.stringify(res) + '\n');
  await ctx.dispose();
  await model.dispose();
  await llama.dispose();
}

main().catch((e: unknown) => {
  process.stderr.write(`llama oracle failed: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(2);
});
