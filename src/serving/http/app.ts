/**
 * The OpenAI-compatible HTTP API (hono, web-standard; @hono/node-server at the edge in server.ts).
 *
 *   POST /v1/chat/completions   chat (stream or not), tools, reasoning, logprobs
 *   POST /v1/completions        raw prompt(s) (stream or not), logprobs
 *   GET  /v1/models             the served model; GET /v1/models/:id
 *   GET  /health                liveness + queue depth (no API key)
 *   GET  /metrics               Prometheus text, vLLM names with `tandem:` (no API key; metrics.ts)
 *   GET  /v1/cache              context-cache summary (per tier: hits, misses, bytes, evictions)
 *
 * Every error is `{"error":{message,type,param,code}}` (api-error.ts); validation is the checklist in validate.ts.
 * The client's disconnect aborts the service requests (`c.req.raw.signal`, and the SSE body's cancel).
 */
import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { ContextCache } from '../../cache/context-cache.js';
import type { InferenceService } from '../../engine/service.js';
import { OutputParser } from '../../text/output-parser.js';
import type { TextTokenizer } from '../../text/tokenizer.js';
import { ApiError, errorResponse, toApiError } from '../api-error.js';
import { apiKeyChecker } from '../auth.js';
import { chatChunks, chatCompletion, type ResponseMeta } from '../chat-output.js';
import { linkedAbort, openChoices, requestId } from '../choices.js';
import { completion, completionChunks } from '../completion-output.js';
import { ServerMetrics } from '../metrics.js';
import { sseResponse } from '../output-common.js';
import { prepareChat } from '../prepare-chat.js';
import { prepareCompletion } from '../prepare-completion.js';
import type { ModelCard, ModelList } from '../protocol/model-list.js';
import { specialTagFinder, toParts, type PartsOptions, type StreamPart } from '../stream-parts.js';
import { MAX_BODY_BYTES, parseJsonBody, type Prepared, type ServingContext } from '../validate.js';

export interface AppOptions {
  readonly service: InferenceService;
  /** Templates chats, encodes prompts and formats logprobs; must be the service model's tokenizer. */
  readonly tokenizer: TextTokenizer;
  /** Require `Authorization: Bearer <apiKey>` on /v1/*. */
  readonly apiKey?: string | undefined;
  /** Default 4 MiB. */
  readonly maxBodyBytes?: number;
  /** The engine's context cache, for /v1/cache and the cache metrics. */
  readonly cache?: ContextCache | undefined;
}

export interface App {
  readonly app: Hono;
  readonly metrics: ServerMetrics;
}

/** One generation endpoint: its checklist, and how it renders parts whole or as SSE chunks. */
interface Endpoint {
  readonly idPrefix: string;
  prepare(ctx: ServingContext, body: unknown, id: string): Prepared;
  whole(parts: readonly AsyncIterable<StreamPart>[], meta: ResponseMeta, onFailure: () => void): Promise<unknown>;
  chunks(parts: readonly AsyncIterable<StreamPart>[], meta: ResponseMeta, includeUsage: boolean, onFailure: () => void): AsyncGenerator<string>;
}

const CHAT: Endpoint = { idPrefix: 'chatcmpl', prepare: prepareChat, whole: chatCompletion, chunks: chatChunks };
const COMPLETIONS: Endpoint = { idPrefix: 'cmpl', prepare: prepareCompletion, whole: completion, chunks: completionChunks };

interface Deps {
  readonly ctx: ServingContext;
  readonly metrics: ServerMetrics;
  readonly tagOf: NonNullable<PartsOptions['tagOf']>;
}

/** Validate, open every choice (429 and early errors answer here), then answer whole or stream. */
async function generate(c: Context, ep: Endpoint, d: Deps): Promise<Response> {
  const arrival = performance.now();
  const { service, tokenizer } = d.ctx;
  const body = parseJsonBody(await c.req.text());
  const id = requestId(ep.idPrefix);
  const prep = ep.prepare(d.ctx, body, id);
  const { controller, dispose } = linkedAbort(c.req.raw.signal);
  const abort = (): void => controller.abort();
  try {
    const events = await openChoices({ service, metrics: d.metrics, arrival, controller }, prep.requests);
    const parser = prep.parser;
    const parts = events.map((ev) => toParts(ev, parser ? { parser: new OutputParser(parser), tagOf: d.tagOf } : {}));
    const meta: ResponseMeta = { id, created: Math.floor(Date.now() / 1000), model: service.modelName, tokenizer, logprobs: prep.logprobs, promptOf: prep.promptOf };
    if (prep.stream) return sseResponse(finallyDo(ep.chunks(parts, meta, prep.includeUsage, abort), dispose), abort);
    const result = await ep.whole(parts, meta, abort);
    dispose();
    return c.json(result);
  } catch (e) {
    dispose();
    throw e;
  }
}

/** Errors in the OpenAI shape, and the optional API key on /v1. */
function guard(app: Hono, metrics: ServerMetrics, apiKey: string | undefined): void {
  app.onError((e) => {
    const err = toApiError(e);
    if (err.status >= 500 && !(e instanceof ApiError)) console.error('tandem serve: internal error:', e);
    if (err.status !== 429) metrics.error(err.code);
    return errorResponse(err);
  });
  app.notFound((c) => errorResponse(new ApiError(404, 'not_found', `no route ${c.req.method} ${c.req.path}`)));
  if (apiKey === undefined || apiKey === '') return;
  const check = apiKeyChecker(apiKey);
  app.use('/v1/*', async (c, next) => {
    if (!check(c.req.header('authorization'))) {
      throw new ApiError(401, 'invalid_api_key', 'missing or incorrect API key; send "Authorization: Bearer <key>"');
    }
    await next();
  });
}

/** /v1/models, /health, /metrics. */
function infoRoutes(app: Hono, service: InferenceService, metrics: ServerMetrics): void {
  const created = Math.floor(Date.now() / 1000);
  const card = (): ModelCard => ({ id: service.modelName, object: 'model', created, owned_by: 'tandem', max_model_len: service.maxContext });
  app.get('/v1/models', (c) => c.json<ModelList>({ object: 'list', data: [card()] }));
  app.get('/v1/models/:id{.+}', (c) => {
    if (c.req.param('id') !== service.modelName) throw new ApiError(404, 'model_not_found', `the model "${c.req.param('id')}" does not exist`, 'model');
    return c.json(card());
  });
  app.get('/health', (c) => {
    const s = service.stats();
    return c.json({ status: 'ok', model: service.modelName, running: s.running, waiting: s.waiting });
  });
  app.get('/metrics', async (c) => {
    const { body, contentType } = await metrics.render();
    return c.body(body, 200, { 'content-type': contentType });
  });
}

export function createApp(opts: AppOptions): App {
  const { service, tokenizer } = opts;
  const metrics = new ServerMetrics(service, opts.cache);
  const deps: Deps = { ctx: { service, tokenizer }, metrics, tagOf: specialTagFinder(tokenizer) };
  const app = new Hono();
  guard(app, metrics, opts.apiKey);
  infoRoutes(app, service, metrics);
  const cache = opts.cache;
  app.get('/v1/cache', (c) => c.json(cache ? { enabled: true, ...cache.stats() } : { enabled: false }));
  const maxSize = opts.maxBodyBytes ?? MAX_BODY_BYTES;
  const limit = bodyLimit({
    maxSize,
    onError: () => {
      throw new ApiError(413, 'request_too_large', `the request body exceeds ${maxSize} bytes`);
    },
  });
  app.post('/v1/chat/completions', limit, (c) => generate(c, CHAT, deps));
  app.post('/v1/completions', limit, (c) => generate(c, COMPLETIONS, deps));
  return { app, metrics };
}

async function* finallyDo<T>(it: AsyncGenerator<T>, done: () => void): AsyncGenerator<T> {
  try {
    yield* it;
  } finally {
    done();
  }
}
