/**
 * llama.cpp (through node-llama-cpp 3.21.1) as a numerical oracle: full-vocabulary log-probabilities at every
 * position of a token sequence for a GGUF file, optionally saving the state mid-sequence, restoring it into a fresh
 * context and continuing. Runs in a child process (llama.cpp aborts the process on some model errors).
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export interface OracleRequest {
  readonly model: string;
  readonly tokens: readonly number[];
  readonly vocabSize: number;
  readonly batchSize: number;
  /** Save state after this many tokens, restore into a new context, continue with the rest. */
  readonly restoreAt?: number;
  readonly stateFile?: string;
}

export interface OracleResponse {
  /** Row i = log p(· | tokens[0..i]); tokens with p = 0 in llama.cpp's f32 softmax are reported as −1e30. */
  readonly logprobs: number[][];
}

/** Whether node-llama-cpp (a dev dependency) is installed. */
export function llamaAvailable(): boolean {
  try {
    createRequire(import.meta.url).resolve('node-llama-cpp');
    return true;
  } catch {
    return false;
  }
}

export function runLlamaOracle(req: OracleRequest, timeoutMs = 120_000): Promise<OracleResponse> {
  const child = fileURLToPath(new URL('./llama-oracle-child.js', import.meta.url));
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [child], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('error', reject);
    p.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`llama oracle exited with ${code ?? signal}: ${err.trim().slice(-2000)}`));
      try {
        resolve(JSON.parse(out) as OracleResponse);
      } catch (e) {
        reject(new Error(`llama oracle printed invalid JSON (${(e as Error).message}): ${out.slice(0, 200)}`));
      }
    });
    p.stdin.end(JSON.stringify(req));
  });
}
