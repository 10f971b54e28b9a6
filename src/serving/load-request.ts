/**
 * One streaming `POST /v1/completions` request for the load generator, timed from the client's side.
 *
 * The response is read as Server-Sent Events and parsed here (no client library): events are separated by a blank
 * line, `data:` lines are joined, `:` comments are skipped, `data: [DONE]` ends the stream. A *token chunk* is a
 * chunk whose `choices[0]` has non-empty `text`, or empty `text` with `finish_reason` still null (a token whose
 * text the server's detokenizer holds back); a finish-only chunk (empty text plus a finish reason) and the usage
 * chunk (`choices: []`) carry no token. Every token chunk's arrival time is recorded, so TTFT is send → first
 * token chunk and each inter-chunk gap is one ITL sample (vLLM's definition: a chunk holding several tokens is one
 * gap). Output tokens come from `usage.completion_tokens` when the server sends usage, else the token-chunk count.
 * `usage.prompt_tokens_details.cached_tokens` (prefix-cache hits) and the generated text are kept on the record too.
 *
 * Never throws: every failure becomes `error` on the record with a kind —
 *   `http_<status>` non-2xx response · `stream_error` an `error` object (or `event: error`) inside the stream ·
 *   `bad_stream` unparsable JSON, no token chunk, or no `[DONE]` · `timeout` the whole request ran past the timeout
 *   (or Node's fetch hit its own fixed 300 s limit on waiting for headers or between body chunks) ·
 *   `connection` the fetch failed (refused, reset, DNS) · `aborted` the run was interrupted (SIGINT).
 */

export interface CompletionRequest {
  /** Full endpoint, e.g. http://127.0.0.1:8000/v1/completions. */
  readonly endpoint: string;
  readonly body: Readonly<Record<string, unknown>>;
  readonly apiKey?: string;
  /** Whole-request limit (send → end of stream), milliseconds. */
  readonly timeoutMs: number;
  /** Interrupts the request (becomes error kind `aborted`). */
  readonly signal?: AbortSignal;
  /** Clock origin of the run: all times on the record are `performance.now() - origin`. */
  readonly origin: number;
}

export interface RequestError {
  readonly kind: string;
  readonly message: string;
}

/** What one request measured. Times are milliseconds; `sendMs` is relative to the run's origin, the rest to send. */
export interface RequestRecord {
  sendMs: number;
  /** Send → first token chunk. */
  ttftMs?: number;
  /** Send → second token chunk. */
  ttstMs?: number;
  /** Send → end of stream. */
  e2eMs?: number;
  /** Gaps between consecutive token chunks. */
  readonly itlMs: number[];
  tokenChunks: number;
  /** `usage.completion_tokens` when sent, else `tokenChunks`. */
  outputTokens: number;
  /** `usage.prompt_tokens` when sent. */
  promptTokens?: number;
  /** `usage.prompt_tokens_details.cached_tokens` when sent (prefix-cache hit tokens). */
  cachedTokens?: number;
  /** The generated text: `choices[0].text` of every chunk, concatenated (the multiturn workload resends it). */
  text?: string;
  error?: RequestError;
}

type Json = Record<string, unknown>;

/** A failure with its report kind (see the header). */
class RequestFailure extends Error {
  constructor(readonly kind: string, message: string) {
    super(message);
  }
}

/** Per-request parse state that is not part of the record. */
interface StreamState {
  lastTokenMs: number;
  usageOutput?: number;
}

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Splits an SSE byte stream into events; yields each event's type and joined data. */
export async function* sseEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<{ event: string; data: string }> {
  const decoder = new TextDecoder();
  let buffer = '';
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      buffer += done ? decoder.decode() : decoder.decode(value, { stream: true });
      const blocks = buffer.split(/\r\n\r\n|\n\n|\r\r/);
      buffer = done ? '' : (blocks.pop() ?? '');
      for (const block of blocks) {
        const ev = parseEvent(block);
        if (ev !== undefined) yield ev;
      }
      if (done) return;
    }
  } finally {
    await reader.cancel().catch(() => undefined); // no-op when the stream ended; closes it when the caller stopped early
  }
}

function parseEvent(block: string): { event: string; data: string } | undefined {
  let event = 'message';
  const data: string[] = [];
  for (const line of block.split(/\r\n|\n|\r/)) {
    if (line === '' || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'data') data.push(value);
    else if (field === 'event') event = value;
  }
  return data.length === 0 ? undefined : { event, data: data.join('\n') };
}

/** Short text of an error response body: OpenAI's `{error: {message}}` when present. */
function errorText(raw: string): string {
  try {
    const j = JSON.parse(raw) as unknown;
    if (isObject(j) && isObject(j.error) && typeof j.error.message === 'string') return j.error.message;
    if (isObject(j) && typeof j.message === 'string') return j.message;
  } catch {
    /* not JSON: fall through to the raw text */
  }
  return raw.trim().slice(0, 200) || '(empty body)';
}

function isTokenChunk(chunk: Json): boolean {
  if (!Array.isArray(chunk.choices)) return false;
  const c: unknown = chunk.choices[0];
  if (!isObject(c)) return false;
  if (typeof c.text === 'string' && c.text.length > 0) return true;
  return c.finish_reason === null || c.finish_reason === undefined;
}

/** Applies one SSE event to the record; returns true when the stream is finished (`[DONE]`). */
function onEvent(rec: RequestRecord, st: StreamState, ev: { event: string; data: string }, sentAt: number): boolean {
  if (ev.data.trim() === '[DONE]') return true;
  let chunk: unknown;
  try {
    chunk = JSON.parse(ev.data);
  } catch {
    throw new RequestFailure('bad_stream', `unparsable SSE data: ${ev.data.slice(0, 80)}`);
  }
  if (!isObject(chunk)) throw new RequestFailure('bad_stream', 'SSE data is not a JSON object');
  if (ev.event === 'error' || chunk.error !== undefined) {
    const msg = isObject(chunk.error) && typeof chunk.error.message === 'string' ? chunk.error.message : ev.data.slice(0, 200);
    throw new RequestFailure('stream_error', msg);
  }
  if (isTokenChunk(chunk)) {
    const t = performance.now() - sentAt;
    if (rec.ttftMs === undefined) rec.ttftMs = t;
    else {
      if (rec.ttstMs === undefined) rec.ttstMs = t;
      rec.itlMs.push(t - st.lastTokenMs);
    }
    rec.tokenChunks++;
    st.lastTokenMs = t;
  }
  const c0: unknown = Array.isArray(chunk.choices) ? chunk.choices[0] : undefined;
  if (isObject(c0) && typeof c0.text === 'string' && c0.text !== '') rec.text = (rec.text ?? '') + c0.text;
  if (isObject(chunk.usage)) {
    const { prompt_tokens: p, completion_tokens: c } = chunk.usage;
    if (typeof p === 'number') rec.promptTokens = p;
    if (typeof c === 'number') st.usageOutput = c;
    const d = chunk.usage.prompt_tokens_details;
    if (isObject(d) && typeof d.cached_tokens === 'number') rec.cachedTokens = d.cached_tokens;
  }
  return false;
}

function failure(e: unknown, timedOut: boolean, aborted: boolean, timeoutMs: number): RequestError {
  if (timedOut) return { kind: 'timeout', message: `no complete response within ${timeoutMs / 1000} s` };
  if (aborted) return { kind: 'aborted', message: 'interrupted' };
  if (e instanceof RequestFailure) return { kind: e.kind, message: e.message };
  const cause = e instanceof Error && e.cause instanceof Error ? e.cause : undefined;
  const message = `${e instanceof Error ? e.message : String(e)}${cause ? `: ${cause.message}` : ''}`;
  // Node's fetch (undici) gives up on its own after 300 s without headers or between body chunks.
  const code = cause !== undefined && 'code' in cause ? cause.code : undefined;
  const fetchTimeout = code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT';
  return { kind: fetchTimeout ? 'timeout' : 'connection', message };
}

async function readStream(res: Response, rec: RequestRecord, st: StreamState, sentAt: number): Promise<void> {
  if (!res.ok) {
    const text = await res.text().catch(() => '');
    throw new RequestFailure(`http_${res.status}`, `HTTP ${res.status}: ${errorText(text)}`);
  }
  if (res.body === null) throw new RequestFailure('bad_stream', 'response has no body');
  let done = false;
  for await (const ev of sseEvents(res.body)) {
    if (onEvent(rec, st, ev, sentAt)) {
      rec.e2eMs = performance.now() - sentAt;
      done = true;
      break;
    }
  }
  if (!done) throw new RequestFailure('bad_stream', 'stream ended without data: [DONE]');
  if (rec.tokenChunks === 0) throw new RequestFailure('bad_stream', 'stream carried no token chunk');
}

/** Sends one streaming completion request and times it. Never throws. */
export async function sendCompletion(req: CompletionRequest): Promise<RequestRecord> {
  const ac = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    ac.abort();
  }, req.timeoutMs);
  const onAbort = (): void => ac.abort();
  req.signal?.addEventListener('abort', onAbort, { once: true });
  const sentAt = performance.now();
  const rec: RequestRecord = { sendMs: sentAt - req.origin, itlMs: [], tokenChunks: 0, outputTokens: 0 };
  const st: StreamState = { lastTokenMs: 0 };
  try {
    if (req.signal?.aborted) throw new Error('aborted before send');
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'text/event-stream' };
    if (req.apiKey !== undefined) headers.authorization = `Bearer ${req.apiKey}`;
    const res = await fetch(req.endpoint, { method: 'POST', headers, body: JSON.stringify(req.body), signal: ac.signal });
    await readStream(res, rec, st, sentAt);
  } catch (e) {
    rec.error = failure(e, timedOut, req.signal?.aborted === true, req.timeoutMs);
    if (!ac.signal.aborted) ac.abort();
  } finally {
    clearTimeout(timer);
    req.signal?.removeEventListener('abort', onAbort);
  }
  rec.outputTokens = st.usageOutput ?? rec.tokenChunks;
  return rec;
}
