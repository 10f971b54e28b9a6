/** A server over a `FakeInferenceService` and the dense golden fixture's tokenizer, for HTTP-layer tests. */
import { join } from 'node:path';
import { startServer, type RunningServer } from '../serving/server.js';
import { loadTokenizerDir, type TextTokenizer } from '../text/tokenizer.js';
import { FakeInferenceService, type FakeServiceOptions } from './fake-service.js';
import { goldenDir } from './golden.js';

export interface FakeServer extends RunningServer {
  readonly service: FakeInferenceService;
  readonly tokenizer: TextTokenizer;
  /** POST JSON (or a raw string body) to `path`. */
  post(path: string, body: unknown, headers?: Record<string, string>): Promise<Response>;
}

export function goldenTokenizer(): TextTokenizer {
  return loadTokenizerDir(join(goldenDir(), 'dense'));
}

export async function startFakeServer(o: FakeServiceOptions & { apiKey?: string; maxBodyBytes?: number } = {}): Promise<FakeServer> {
  const service = new FakeInferenceService(o);
  const tokenizer = goldenTokenizer();
  const server = await startServer({
    service,
    tokenizer,
    ...(o.apiKey !== undefined ? { apiKey: o.apiKey } : {}),
    ...(o.maxBodyBytes !== undefined ? { maxBodyBytes: o.maxBodyBytes } : {}),
  });
  const post = (path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> =>
    fetch(server.url + path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
  return { ...server, service, tokenizer, post };
}

/** The `data:` payloads of an SSE body, parsed, without the final `[DONE]` (asserted present). */
export function sseEvents(body: string): unknown[] {
  const events = body.split('\n\n').filter((e) => e.length > 0);
  const last = events.pop();
  if (last !== 'data: [DONE]') throw new Error(`stream does not end with [DONE]: ${JSON.stringify(last)}`);
  return events.map((e) => {
    if (!e.startsWith('data: ')) throw new Error(`not an SSE data event: ${JSON.stringify(e)}`);
    return JSON.parse(e.slice(6)) as unknown;
  });
}
