/**
 * Messages between `tandem bench --vs llama` and its llama.cpp child (llama-bench-child.ts): one JSON object per line,
 * requests on the child's stdin, replies on its stdout.
 */

export interface LlamaInit {
  readonly type: 'init';
  readonly model: string;
  readonly threads: number;
  /** llama.cpp batch size: prompt tokens per decode call (the same as Tandem's prefill chunk). */
  readonly batchSize: number;
  readonly contextSize: number;
}

export interface LlamaRun {
  readonly type: 'run';
  readonly prompt: readonly number[];
  readonly decode: readonly number[];
}

export interface LlamaExit {
  readonly type: 'exit';
}

export type LlamaRequest = LlamaInit | LlamaRun | LlamaExit;

export type LlamaReply =
  | { readonly type: 'ready'; readonly loadMs: number; readonly threads: number; readonly contextSize: number; readonly version: string }
  | { readonly type: 'result'; readonly prefillMs: number; readonly decodeMs: number }
  | { readonly type: 'error'; readonly message: string };
