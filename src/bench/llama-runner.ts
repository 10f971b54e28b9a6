/**
 * Parent side of the llama.cpp timing child (llama-bench-child.ts): spawn it once, load the model once, then ask for
 * as many timed runs as the alternation needs. A child that dies (llama.cpp aborts on some model errors) or answers
 * with an error becomes one UNSUPPORTED line naming the model and llama.cpp's reason.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { TandemError } from '../errors.js';
import type { LlamaInit, LlamaReply, LlamaRequest } from './llama-protocol.js';
import type { RunTiming } from './tandem-timing.js';

export const LLAMA_PACKAGE = 'node-llama-cpp';
export const LLAMA_VERSION = '3.21.1';

/** Whether node-llama-cpp (a dev dependency of Tandem) can be imported here. */
export function llamaAvailable(): boolean {
  try {
    createRequire(import.meta.url).resolve(LLAMA_PACKAGE);
    return true;
  } catch {
    return false;
  }
}

type Ready = Extract<LlamaReply, { type: 'ready' }>;

function parseReply(line: string): LlamaReply | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const r = JSON.parse(line) as LlamaReply;
    return typeof r === 'object' && r !== null && typeof r.type === 'string' ? r : undefined;
  } catch {
    return undefined;
  }
}
type Waiter = { resolve: (r: LlamaReply) => void; reject: (e: Error) => void };

export class LlamaBench {
  private readonly waiters: Waiter[] = [];
  private stderr = '';
  private exited: Error | undefined;

  private constructor(private readonly child: ChildProcessWithoutNullStreams, private readonly model: string, private readonly timeoutMs: number) {
    child.stderr.setEncoding('utf8').on('data', (d: string) => (this.stderr = (this.stderr + d).slice(-4000)));
    createInterface({ input: child.stdout }).on('line', (line) => {
      const reply = parseReply(line);
      if (reply) this.waiters.shift()?.resolve(reply);
      else if (line.trim() !== '') this.stderr = (this.stderr + line + '\n').slice(-4000); // a library's stray print
    });
    child.on('close', (code, signal) => {
      this.exited = this.failure(`the llama.cpp child exited (${code ?? signal})`);
      for (const w of this.waiters.splice(0)) w.reject(this.exited);
    });
    child.on('error', (e) => {
      this.exited = this.failure(e.message);
      for (const w of this.waiters.splice(0)) w.reject(this.exited);
    });
  }

  /** Spawn the child and load the model; resolves once llama.cpp is ready. */
  static async start(init: Omit<LlamaInit, 'type'>, timeoutMs = 600_000): Promise<{ bench: LlamaBench; ready: Ready }> {
    const script = fileURLToPath(new URL('./llama-bench-child.js', import.meta.url));
    const child = spawn(process.execPath, [script], { stdio: ['pipe', 'pipe', 'pipe'] });
    const bench = new LlamaBench(child, init.model, timeoutMs);
    const ready = await bench.request({ type: 'init', ...init });
    if (ready.type !== 'ready') throw bench.failure(`unexpected reply ${ready.type}`);
    return { bench, ready };
  }

  async run(prompt: readonly number[], decode: readonly number[]): Promise<RunTiming> {
    const r = await this.request({ type: 'run', prompt, decode });
    if (r.type !== 'result') throw this.failure(`unexpected reply ${r.type}`);
    return { prefillMs: r.prefillMs, decodeMs: r.decodeMs };
  }

  /** Ask the child to dispose llama.cpp and exit; kills it if it has not gone after 10 s. */
  async close(): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((resolve) => this.child.once('close', () => resolve()));
    this.child.stdin.end(JSON.stringify({ type: 'exit' } satisfies LlamaRequest) + '\n');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await gone;
    clearTimeout(timer);
  }

  private failure(reason: string): TandemError {
    const log = this.stderr.trim().split('\n').filter(Boolean).slice(-3).join(' | ');
    return new TandemError('UNSUPPORTED', `llama.cpp (${LLAMA_PACKAGE} ${LLAMA_VERSION}) could not run ${this.model}: ${reason}${log ? ` (${log})` : ''}`);
  }

  private request(req: LlamaRequest): Promise<LlamaReply> {
    if (this.exited) return Promise.reject(this.exited);
    return new Promise<LlamaReply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.child.kill('SIGKILL');
        reject(this.failure(`no answer within ${this.timeoutMs / 1000} s`));
      }, this.timeoutMs);
      const done = (f: () => void): void => {
        clearTimeout(timer);
        f();
      };
      this.waiters.push({
        resolve: (r) => done(() => (r.type === 'error' ? reject(this.failure(r.message)) : resolve(r))),
        reject: (e) => done(() => reject(e)),
      });
      this.child.stdin.write(JSON.stringify(req) + '\n');
    });
  }
}
