/**
 * Side-by-side quality of a candidate model (e.g. a quantized checkpoint) against a reference on a text
 * (spec precision.md §8): KL divergence of the next-token distributions, same-top rate, perplexity of both, Δp,
 * plus what the candidate saves (weight bytes, bits per weight, sequence-state bytes).
 *
 * Protocol, as `llama-perplexity --kl-divergence` does it: the text is tokenized once with the REFERENCE's
 * tokenizer (BOS first when the tokenizer adds one) and cut into chunks of `ctx` tokens, at most
 * `maxTokens` tokens in all (a partial last chunk is dropped). Every chunk starts a fresh sequence in both models,
 * with its first token replaced by BOS when the tokenizer adds one. The first half of a chunk is context only: the
 * logits of positions ⌊ctx/2⌋ … ctx−2 are scored, each against the token that follows it, so a chunk gives
 * ctx−1−⌊ctx/2⌋ positions. Scored positions are run in pieces, so at most 2·piece full-vocabulary rows (f64) are
 * held at once.
 */
import { readFileSync } from 'node:fs';
import { TandemError } from '../errors.js';
import { weightTally } from '../formats/weights.js';
import { forward, newState } from '../model/nemotron-h.js';
import { stateBytes, type StateFormat } from '../model/state.js';
import { loadModel, type LoadedModel, type LoadOptions } from './load-model.js';
import { sequenceLogprobs } from './logprobs.js';

export const EVAL_DEFAULT_CTX = 256;
export const EVAL_DEFAULT_MAX_TOKENS = 2048;
/** Smallest chunk that scores at least one position. */
export const EVAL_MIN_CTX = 4;
/** Formats that are not counted as quantized when computing `quantizedBitsPerWeight`. */
export const UNQUANTIZED_FORMATS: readonly string[] = ['f32', 'f16', 'bf16'];
/** Sequence lengths at which state bytes are reported. */
export const STATE_POINTS = [['8k', 8192], ['128k', 131072], ['1M', 1048576]] as const;

/** Options for the candidate only (the reference always loads with defaults). */
export type CandidateOptions = Pick<LoadOptions, 'kvCache' | 'ssmState' | 'emulateActivations'>;

export interface EvalQuantOptions {
  /** Tokens per chunk (default 256). */
  readonly ctx?: number;
  /** Cap on the text tokens used, in whole chunks (default 2048). */
  readonly maxTokens?: number;
  readonly candidate?: CandidateOptions;
  /** Scored positions per forward call (memory bound; default 64). */
  readonly piece?: number;
  /** Called after each chunk. */
  readonly onProgress?: (chunksDone: number, chunks: number) => void;
}

/**
 * One model's side of the report. Stable JSON keys:
 * path, format ('hf'|'gguf'), params, weightBytes, bytesByFormat {format: bytes}, bitsPerWeight (8·bytes/params),
 * quantizedParams and quantizedBitsPerWeight (formats other than f32/f16/bf16 only; null when there are none),
 * stateFormat {kv, ssm}, emulateActivations, stateBytes {"8k","128k","1M"} (one sequence's state in stateFormat),
 * seconds {load, eval} (eval = time in this model's forward passes).
 */
export interface EvalSide {
  readonly path: string;
  readonly format: 'hf' | 'gguf';
  readonly params: number;
  readonly weightBytes: number;
  readonly bytesByFormat: Readonly<Record<string, number>>;
  readonly bitsPerWeight: number;
  readonly quantizedParams: number;
  readonly quantizedBitsPerWeight: number | null;
  readonly stateFormat: StateFormat;
  readonly emulateActivations: boolean;
  readonly stateBytes: Readonly<Record<(typeof STATE_POINTS)[number][0], number>>;
  readonly seconds: { readonly load: number; readonly eval: number };
}

/**
 * Stable JSON keys. Rates and probabilities are fractions (0…1), KL in nats, errors are one standard error:
 * textTokens (all tokens of the text), ctx, chunks, tokensUsed (chunks·ctx), positions (scored),
 * kl {mean, meanErr, median, p90, p99, max}, sameTop {rate, err} (binomial),
 * ppl {reference, candidate, delta (cand − ref), deltaErr, ratio (cand / ref)},
 * deltaP {mean, rms} (p_cand(target) − p_ref(target)), seconds {tokenize, total}.
 */
export interface EvalMetrics {
  readonly textTokens: number;
  readonly ctx: number;
  readonly chunks: number;
  readonly tokensUsed: number;
  readonly positions: number;
  readonly kl: { readonly mean: number; readonly meanErr: number; readonly median: number; readonly p90: number; readonly p99: number; readonly max: number };
  readonly sameTop: { readonly rate: number; readonly err: number };
  readonly ppl: { readonly reference: number; readonly candidate: number; readonly delta: number; readonly deltaErr: number; readonly ratio: number };
  readonly deltaP: { readonly mean: number; readonly rms: number };
  readonly seconds: { readonly tokenize: number; readonly total: number };
}

export interface EvalQuantReport {
  readonly reference: EvalSide;
  readonly candidate: EvalSide;
  readonly metrics: EvalMetrics;
}

// ---------------------------------------------------------------------------------------------------------------
// Per-position metrics (pure)

/** KL(p ‖ q) = Σ p·(log p − log q) over full log-probability rows, in f64; terms with p = 0 contribute 0. */
export function klDivergence(logP: ArrayLike<number>, logQ: ArrayLike<number>): number {
  if (logP.length !== logQ.length) throw new TandemError('BAD_INPUT', `KL divergence of rows of different sizes (${logP.length} vs ${logQ.length}); both models need the same vocabulary`);
  let kl = 0;
  for (let i = 0; i < logP.length; i++) {
    const lp = logP[i]!;
    if (lp === -Infinity) continue;
    kl += Math.exp(lp) * (lp - logQ[i]!);
  }
  return kl;
}

/** Index of the largest value (the first one on ties). */
export function argmax(row: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i]! > row[best]!) best = i;
  return best;
}

/** Value at quantile q ∈ [0, 1] of ascending `sorted`, linearly interpolated between the closest ranks. */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return NaN;
  const at = q * (sorted.length - 1);
  const lo = Math.floor(at);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo]! + (at - lo) * (sorted[hi]! - sorted[lo]!);
}

/** Running sums over scored positions; `add` one position at a time, then `summary()`. */
export class PositionStats {
  private readonly kls: number[] = [];
  private sameTop = 0;
  private nllA = 0;
  private nllB = 0;
  private nllA2 = 0;
  private nllB2 = 0;
  private nllAB = 0;
  private dp = 0;
  private dp2 = 0;

  get count(): number {
    return this.kls.length;
  }

  /** One position: full log-prob rows of reference (A) and candidate (B), and the token that actually follows. */
  add(logA: ArrayLike<number>, logB: ArrayLike<number>, target: number): void {
    this.kls.push(klDivergence(logA, logB));
    if (argmax(logA) === argmax(logB)) this.sameTop++;
    const a = -logA[target]!;
    const b = -logB[target]!;
    this.nllA += a;
    this.nllB += b;
    this.nllA2 += a * a;
    this.nllB2 += b * b;
    this.nllAB += a * b;
    const d = Math.exp(-b) - Math.exp(-a);
    this.dp += d;
    this.dp2 += d * d;
  }

  summary(): Pick<EvalMetrics, 'positions' | 'kl' | 'sameTop' | 'ppl' | 'deltaP'> {
    const n = this.count;
    if (n === 0) throw new TandemError('BAD_INPUT', 'no positions were scored; give a longer text or a larger --ctx');
    const sorted = Float64Array.from(this.kls).sort();
    const klMean = sorted.reduce((s, v) => s + v, 0) / n;
    const klVar = n > 1 ? sorted.reduce((s, v) => s + (v - klMean) ** 2, 0) / (n - 1) : 0;
    const rate = this.sameTop / n;
    return {
      positions: n,
      kl: { mean: klMean, meanErr: Math.sqrt(klVar / n), median: quantile(sorted, 0.5), p90: quantile(sorted, 0.9), p99: quantile(sorted, 0.99), max: sorted[n - 1]! },
      sameTop: { rate, err: n > 1 ? Math.sqrt((rate * (1 - rate)) / (n - 1)) : 0 },
      ppl: this.perplexity(),
      deltaP: { mean: this.dp / n, rms: Math.sqrt(this.dp2 / n) },
    };
  }

  /** PPL = exp(mean NLL) of both; ΔPPL's error by first-order propagation with the NLL covariance (as llama-perplexity). */
  private perplexity(): EvalMetrics['ppl'] {
    const n = this.count;
    const [ma, mb] = [this.nllA / n, this.nllB / n];
    const [pa, pb] = [Math.exp(ma), Math.exp(mb)];
    const dn = Math.max(n - 1, 1);
    const varA = (this.nllA2 / n - ma * ma) / dn;
    const varB = (this.nllB2 / n - mb * mb) / dn;
    const cov = (this.nllAB / n - ma * mb) / dn;
    const deltaVar = pb * pb * varB + pa * pa * varA - 2 * pa * pb * cov;
    return { reference: pa, candidate: pb, delta: pb - pa, deltaErr: Math.sqrt(Math.max(deltaVar, 0)), ratio: pb / pa };
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Chunking

/** Whole chunks of `ctx` tokens from `tokens`, at most `maxTokens` tokens in all; BOS (if given) replaces each chunk's first token. */
export function evalChunks(tokens: readonly number[], ctx: number, maxTokens: number, bos: number | undefined): number[][] {
  if (!Number.isInteger(ctx) || ctx < EVAL_MIN_CTX) throw new TandemError('BAD_ARGUMENT', `--ctx must be an integer ≥ ${EVAL_MIN_CTX} (the second half of each chunk is scored), got ${ctx}`);
  if (maxTokens < ctx) throw new TandemError('BAD_ARGUMENT', `--max-tokens ${maxTokens} is smaller than one chunk (--ctx ${ctx}); raise --max-tokens or lower --ctx`);
  const n = Math.min(Math.floor(tokens.length / ctx), Math.floor(maxTokens / ctx));
  if (n === 0) {
    throw new TandemError('BAD_INPUT', `the text gives ${tokens.length} tokens but eval-quant needs at least ${ctx} (one chunk of --ctx ${ctx}); give a longer text or a smaller --ctx`);
  }
  const chunks: number[][] = [];
  for (let c = 0; c < n; c++) {
    const chunk = tokens.slice(c * ctx, (c + 1) * ctx);
    if (bos !== undefined) chunk[0] = bos;
    chunks.push(chunk);
  }
  return chunks;
}

// ---------------------------------------------------------------------------------------------------------------
// Running both models

const now = (): number => performance.now() / 1000;

/** Score one chunk in both models into `stats`; adds forward-pass seconds to `secs` [reference, candidate]. */
function scoreChunk(ref: LoadedModel, cand: LoadedModel, chunk: readonly number[], piece: number, stats: PositionStats, secs: [number, number]): void {
  const first = Math.floor(chunk.length / 2);
  const models = [ref.model, cand.model] as const;
  const states = models.map((m) => newState(m));
  models.forEach((m, i) => {
    const t = now();
    forward(m, states[i]!, chunk.slice(0, first));
    secs[i]! += now() - t;
  });
  for (let s = first; s < chunk.length - 1; s += piece) {
    const inputs = chunk.slice(s, Math.min(s + piece, chunk.length - 1));
    const rows = models.map((m, i) => {
      const t = now();
      const r = sequenceLogprobs(m, inputs, inputs.length, states[i]!);
      secs[i]! += now() - t;
      return r;
    });
    for (let j = 0; j < inputs.length; j++) stats.add(rows[0]![j]!, rows[1]![j]!, chunk[s + j + 1]!);
  }
}

function describe(loaded: LoadedModel, emulateActivations: boolean, load: number, evalSecs: number): EvalSide {
  const { model } = loaded;
  const { params, bytes, elements } = weightTally(model.weights);
  const weightBytes = Object.values(bytes).reduce((a, b) => a + b, 0);
  let qBytes = 0;
  let qParams = 0;
  for (const [fmt, b] of Object.entries(bytes)) {
    if (UNQUANTIZED_FORMATS.includes(fmt)) continue;
    qBytes += b;
    qParams += elements[fmt] ?? 0;
  }
  const st = Object.fromEntries(STATE_POINTS.map(([k, n]) => [k, stateBytes(model.config, n, model.stateFormat).total])) as EvalSide['stateBytes'];
  return {
    path: loaded.path, format: loaded.format, params, weightBytes, bytesByFormat: { ...bytes },
    bitsPerWeight: params > 0 ? (8 * weightBytes) / params : 0,
    quantizedParams: qParams, quantizedBitsPerWeight: qParams > 0 ? (8 * qBytes) / qParams : null,
    stateFormat: model.stateFormat, emulateActivations, stateBytes: st, seconds: { load, eval: evalSecs },
  };
}

function checkCompatible(ref: LoadedModel, cand: LoadedModel, ctx: number): void {
  const [va, vb] = [ref.model.config.vocabSize, cand.model.config.vocabSize];
  if (va !== vb) {
    throw new TandemError('BAD_INPUT', `vocabulary sizes differ: reference ${ref.path} has ${va}, candidate ${cand.path} has ${vb}; compare checkpoints of the same model (same tokenizer)`);
  }
  for (const m of [ref, cand]) {
    const max = m.model.config.maxPositions;
    if (ctx > max) throw new TandemError('BAD_ARGUMENT', `--ctx ${ctx} exceeds the context of ${m.path} (${max} tokens); lower --ctx`);
  }
}

/** Text → tokens → chunks → both models → report, for models already loaded (load seconds are passed in). */
export function evalQuantLoaded(ref: LoadedModel, cand: LoadedModel, text: string, opts: EvalQuantOptions = {}, loadSecs: [number, number] = [0, 0]): EvalQuantReport {
  const t0 = now();
  const ctx = opts.ctx ?? EVAL_DEFAULT_CTX;
  const piece = opts.piece ?? 64;
  if (!Number.isInteger(piece) || piece < 1) throw new TandemError('BAD_ARGUMENT', `piece must be a positive integer, got ${piece}`);
  checkCompatible(ref, cand, ctx);
  const tok = ref.tokenizer();
  const tokens = tok.encode(text);
  const chunks = evalChunks(tokens, ctx, opts.maxTokens ?? EVAL_DEFAULT_MAX_TOKENS, tok.addBos ? tok.bosId : undefined);
  const tokenize = now() - t0;
  const stats = new PositionStats();
  const secs: [number, number] = [0, 0];
  chunks.forEach((chunk, i) => {
    scoreChunk(ref, cand, chunk, piece, stats, secs);
    opts.onProgress?.(i + 1, chunks.length);
  });
  const metrics: EvalMetrics = {
    textTokens: tokens.length, ctx, chunks: chunks.length, tokensUsed: chunks.length * ctx,
    ...stats.summary(), seconds: { tokenize, total: now() - t0 + loadSecs[0] + loadSecs[1] },
  };
  return {
    reference: describe(ref, false, loadSecs[0], secs[0]),
    candidate: describe(cand, opts.candidate?.emulateActivations ?? false, loadSecs[1], secs[1]),
    metrics,
  };
}

/** Read the evaluation text; a missing file is NOT_FOUND, an empty one BAD_INPUT. */
export function readEvalText(path: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? String(e);
    throw new TandemError(code === 'ENOENT' ? 'NOT_FOUND' : 'BAD_INPUT', `cannot read --text ${path} (${code}); give a readable UTF-8 text file`);
  }
  if (text.trim().length === 0) throw new TandemError('BAD_INPUT', `--text ${path} is empty; give a file with a few KB of prose`);
  return text;
}

/** Load reference (defaults) and candidate (with `opts.candidate`) from their paths and compare them on `text`. */
export function evalQuant(referencePath: string, candidatePath: string, text: string, opts: EvalQuantOptions = {}): EvalQuantReport {
  let t = now();
  const ref = loadModel(referencePath);
  const loadRef = now() - t;
  t = now();
  const cand = loadModel(candidatePath, opts.candidate ?? {});
  const loadCand = now() - t;
  return evalQuantLoaded(ref, cand, text, opts, [loadRef, loadCand]);
}
