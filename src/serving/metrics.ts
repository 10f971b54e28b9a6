/**
 * `GET /metrics`: Prometheus text from a per-server prom-client registry, with vLLM's metric names and buckets under
 * the `tandem:` prefix (so vLLM dashboards and load generators that scrape them work unchanged; serving.md §9.1).
 * Every series carries `model_name`, as vLLM's do.
 *
 * | tandem name                              | vLLM name                           | kind      | source                         |
 * |------------------------------------------|-------------------------------------|-----------|--------------------------------|
 * | tandem:num_requests_running              | vllm:num_requests_running           | gauge     | service.stats().running        |
 * | tandem:num_requests_waiting              | vllm:num_requests_waiting           | gauge     | service.stats().waiting        |
 * | tandem:prompt_tokens_total               | vllm:prompt_tokens_total            | counter   | usage.promptTokens per choice  |
 * | tandem:generation_tokens_total           | vllm:generation_tokens_total        | counter   | usage.completionTokens         |
 * | tandem:prefix_cache_queries_total        | vllm:prefix_cache_queries_total     | counter   | prompt tokens looked up        |
 * | tandem:prefix_cache_hits_total           | vllm:prefix_cache_hits_total        | counter   | usage.cachedTokens             |
 * | tandem:request_success_total{finished_reason} | vllm:request_success_total     | counter   | stop, length, abort            |
 * | tandem:time_to_first_token_seconds       | vllm:time_to_first_token_seconds    | histogram | HTTP arrival → first token     |
 * | tandem:inter_token_latency_seconds       | vllm:inter_token_latency_seconds    | histogram | gap between tokens             |
 * | tandem:e2e_request_latency_seconds       | vllm:e2e_request_latency_seconds    | histogram | HTTP arrival → finish          |
 * | tandem:request_prompt_tokens             | vllm:request_prompt_tokens          | histogram | per choice                     |
 * | tandem:request_generation_tokens         | vllm:request_generation_tokens      | histogram | per choice                     |
 * | tandem:num_live_states                   | (none; serving.md §10 #7 leak check)| gauge     | service.stats().liveStates     |
 * | tandem:request_rejected_total            | (none; 429 answers, §9.1)           | counter   | ServiceFullError               |
 * | tandem:request_errors_total{code}        | (none; error answers, §9.1)         | counter   | ApiError / service error event |
 *
 * | tandem:cache_hit_tokens_total{tier}     | (none; context cache, src/cache)    | counter   | prompt tokens a tier restored  |
 * | tandem:cache_miss_tokens_total{tier}    | (none)                              | counter   | looked-up tokens a tier lacked |
 * | tandem:cache_snapshot_hits_total{tier}  | (none)                              | counter   | snapshots restored             |
 * | tandem:cache_recompute_tokens_total{tier} | (none; ÷ snapshot hits = per hit) | counter   | tokens prefilled after a hit   |
 * | tandem:cache_bytes{tier}                | (none)                              | gauge     | snapshot bytes held            |
 * | tandem:cache_evictions_total{tier}      | (none)                              | counter   | snapshots evicted              |
 * | tandem:cache_kv_bytes{tier}             | (none)                              | gauge     | KV-block bytes held            |
 * | tandem:cache_kv_evictions_total{tier}   | (none)                              | counter   | KV blocks evicted              |
 * | tandem:cache_kv_hit_blocks_total{tier}  | (none)                              | counter   | KV blocks read for restores    |
 * | tandem:cache_kv_hit_tokens_total        | (none; serving.md §8.5 lesson 4)    | counter   | prompt tokens with cached KV   |
 * | tandem:cache_branch_points_total        | (none)                              | counter   | branch points found            |
 * | tandem:cache_snapshots                  | (none)                              | gauge     | snapshots in the prefix index  |
 *
 * Latencies are measured per choice (an `n` > 1 request counts n times), as vLLM counts its sub-requests.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ContextCache, TierCounters } from '../cache/context-cache.js';
import type { FinishReason } from '../engine/generate.js';
import type { InferenceService, Usage } from '../engine/service.js';

const TTFT_BUCKETS = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80, 160, 640, 2560];
const ITL_BUCKETS = [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80];
const E2E_BUCKETS = [0.3, 0.5, 0.8, 1, 1.5, 2, 2.5, 5, 10, 15, 20, 30, 40, 50, 60, 120, 240, 480, 960, 1920, 7680];

/** vLLM's build_1_2_5_buckets: 1, 2, 5, 10, 20, 50, … up to `max`. */
export function buckets125(max: number): number[] {
  const out: number[] = [];
  for (let exp = 1; ; exp *= 10) {
    for (const m of [1, 2, 5]) {
      if (m * exp > max) return out;
      out.push(m * exp);
    }
  }
}

/** What one choice reports as it runs (see `instrument` in choices.ts). */
export interface ChoiceMetrics {
  firstToken(secondsSinceArrival: number): void;
  interToken(seconds: number): void;
  finished(reason: FinishReason, usage: Usage, secondsSinceArrival: number): void;
  aborted(promptTokens: number, generated: number): void;
  /** A service `error` event after the response started. */
  failed(code: string): void;
}

export class ServerMetrics {
  readonly registry = new Registry();
  readonly #c;
  readonly #h;

  constructor(service: InferenceService, cache?: ContextCache) {
    const registers = [this.registry];
    this.registry.setDefaultLabels({ model_name: service.modelName });
    const gauge = (name: string, help: string, read: () => number): void => {
      new Gauge({ name, help, registers, collect() { this.set(read()); } });
    };
    gauge('tandem:num_requests_running', 'Requests in model execution batches.', () => service.stats().running);
    gauge('tandem:num_requests_waiting', 'Requests waiting to be processed.', () => service.stats().waiting);
    gauge('tandem:num_live_states', 'Sequence states alive (0 when idle, else a leak).', () => service.stats().liveStates);
    if (cache) cacheMetrics(registers, cache);
    const counter = (name: string, help: string, labelNames: string[] = []): Counter => new Counter({ name, help, labelNames, registers });
    this.#c = {
      prompt: counter('tandem:prompt_tokens_total', 'Prefill tokens processed.'),
      generation: counter('tandem:generation_tokens_total', 'Generation tokens processed.'),
      cacheQueries: counter('tandem:prefix_cache_queries_total', 'Prompt tokens looked up in the prefix cache.'),
      cacheHits: counter('tandem:prefix_cache_hits_total', 'Prompt tokens served from the prefix cache.'),
      success: counter('tandem:request_success_total', 'Finished requests, by finish reason.', ['finished_reason']),
      rejected: counter('tandem:request_rejected_total', 'Requests refused with 429 (admission queue full).'),
      errors: counter('tandem:request_errors_total', 'Requests answered with an error, by error code.', ['code']),
    };
    const max = service.maxContext;
    const histogram = (name: string, help: string, buckets: number[]): Histogram => new Histogram({ name, help, buckets, registers });
    this.#h = {
      ttft: histogram('tandem:time_to_first_token_seconds', 'Time to first token in seconds.', TTFT_BUCKETS),
      itl: histogram('tandem:inter_token_latency_seconds', 'Time between tokens in seconds.', ITL_BUCKETS),
      e2e: histogram('tandem:e2e_request_latency_seconds', 'End-to-end request latency in seconds.', E2E_BUCKETS),
      promptTokens: histogram('tandem:request_prompt_tokens', 'Prompt tokens per request.', buckets125(max)),
      generationTokens: histogram('tandem:request_generation_tokens', 'Generated tokens per request.', buckets125(max)),
    };
  }

  async render(): Promise<{ body: string; contentType: string }> {
    return { body: await this.registry.metrics(), contentType: this.registry.contentType };
  }

  rejected(): void {
    this.#c.rejected.inc();
  }

  error(code: string): void {
    this.#c.errors.inc({ code });
  }

  choice(): ChoiceMetrics {
    const { ttft, itl, e2e } = this.#h;
    return {
      firstToken: (s) => ttft.observe(s),
      interToken: (s) => itl.observe(s),
      finished: (reason, usage, s) => {
        e2e.observe(s);
        this.#tokens(usage.promptTokens, usage.completionTokens, usage.cachedTokens);
        this.#c.success.inc({ finished_reason: reason === 'eos' ? 'stop' : reason });
      },
      aborted: (prompt, generated) => {
        this.#tokens(prompt, generated, 0);
        this.#c.success.inc({ finished_reason: 'abort' });
      },
      failed: (code) => this.error(code),
    };
  }

  #tokens(prompt: number, generated: number, cached: number): void {
    this.#c.prompt.inc(prompt);
    this.#c.generation.inc(generated);
    this.#c.cacheQueries.inc(prompt);
    this.#c.cacheHits.inc(cached);
    this.#h.promptTokens.observe(prompt);
    this.#h.generationTokens.observe(generated);
  }
}

/** Per-tier context-cache series, read from `cache.stats()` at scrape time. */
function cacheMetrics(registers: Registry[], cache: ContextCache): void {
  const perTier = (name: string, help: string, field: keyof TierCounters, kind: 'counter' | 'gauge'): void => {
    const collect = function (this: Counter | Gauge): void {
      this.reset();
      for (const t of cache.stats().tiers) {
        const v = t[field] as number;
        if (this instanceof Counter) this.inc({ tier: t.tier }, v);
        else this.set({ tier: t.tier }, v);
      }
    };
    if (kind === 'counter') new Counter({ name, help, labelNames: ['tier'], registers, collect });
    else new Gauge({ name, help, labelNames: ['tier'], registers, collect });
  };
  perTier('tandem:cache_hit_tokens_total', 'Prompt tokens restored from the context cache, by tier.', 'hitTokens', 'counter');
  perTier('tandem:cache_miss_tokens_total', 'Looked-up prompt tokens a tier could not restore.', 'missTokens', 'counter');
  perTier('tandem:cache_snapshot_hits_total', 'State snapshots restored, by tier.', 'snapshotHits', 'counter');
  perTier('tandem:cache_recompute_tokens_total', 'Prompt tokens prefilled after a hit (divide by snapshot hits for per hit).', 'recomputeTokens', 'counter');
  perTier('tandem:cache_bytes', 'Bytes held by each cache tier.', 'bytes', 'gauge');
  perTier('tandem:cache_evictions_total', 'Snapshots evicted, by tier.', 'evictions', 'counter');
  perTier('tandem:cache_kv_bytes', 'Bytes of attention KV blocks held by each cache tier.', 'kvBytes', 'gauge');
  perTier('tandem:cache_kv_evictions_total', 'Attention KV blocks evicted, by tier.', 'kvEvictions', 'counter');
  perTier('tandem:cache_kv_hit_blocks_total', 'Attention KV blocks (16 tokens) read for restores, by tier.', 'kvHitBlocks', 'counter');
  const total = (name: string, help: string, field: 'kvHitTokens' | 'branchPoints'): void => {
    new Counter({ name, help, registers, collect() { this.reset(); this.inc(cache.stats()[field]); } });
  };
  total('tandem:cache_kv_hit_tokens_total', 'Prompt tokens whose attention KV was cached (vs hit tokens: the gap is missing snapshots).', 'kvHitTokens');
  total('tandem:cache_branch_points_total', 'Lookups that found a branch point (a snapshot is placed there).', 'branchPoints');
  new Gauge({ name: 'tandem:cache_snapshots', help: 'Snapshots in the prefix index.', registers, collect() { this.set(cache.stats().snapshots); } });
}
