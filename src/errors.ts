/**
 * Errors users can cause (bad files, bad flags, bad prompts) are `TandemError`s with a stable `code`.
 * The CLI prints `error[CODE]: message` on one line and exits non-zero; anything else is a bug and keeps its stack.
 */
export type ErrorCode =
  | 'BAD_CONFIG' // config.json missing, malformed, or with unsupported values
  | 'BAD_CHECKPOINT' // safetensors / GGUF file corrupt, truncated, or inconsistent
  | 'TENSOR_MISMATCH' // missing, unexpected or mis-shaped tensors
  | 'UNSUPPORTED' // a real but not (yet) supported feature: dtype, architecture, layer kind
  | 'BAD_STATE' // a sequence-state blob that is corrupt, from another model, or of another version
  | 'BAD_TOKENIZER' // tokenizer files missing or malformed
  | 'BAD_INPUT' // empty prompt, prompt longer than context, bad token ids
  | 'BAD_ARGUMENT' // CLI flag / option with an invalid value
  | 'NOT_FOUND'; // a path that does not exist

export class TandemError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = 'TandemError';
    this.code = code;
  }
}

export function isTandemError(e: unknown): e is TandemError {
  return e instanceof TandemError;
}
