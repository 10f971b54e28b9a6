/**
 * Text ↔ token ids for byte-level BPE models (Nemotron-H ships only `tokenizer.json`, spec §5.4).
 *
 * The entry point for the rest of tandem: one `TextTokenizer` built from an HF model directory
 * (`tokenizer.json` + optional `tokenizer_config.json`, see `hf-tokenizer.ts`) or from GGUF tokenizer metadata
 * (see `gguf-tokenizer.ts`).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { TandemError } from '../errors.js';
import { DIR_FIX, isRecord, tokenizerFromJson, type Json, type TextTokenizer } from './hf-tokenizer.js';

export { tokenizerFromJson, type TextTokenizer } from './hf-tokenizer.js';
export {
  tokenizerFilesFromGguf,
  tokenizerFromGguf,
  tokenizerToGgufMeta,
  type GgufTokenizerMeta,
} from './gguf-tokenizer.js';

export function loadTokenizerDir(dir: string, extraEosIds: readonly number[] = []): TextTokenizer {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new TandemError('NOT_FOUND', `model directory ${dir} does not exist; ${DIR_FIX}`);
  }
  const tokPath = join(dir, 'tokenizer.json');
  if (!existsSync(tokPath)) throw new TandemError('NOT_FOUND', `no tokenizer.json in ${dir}; ${DIR_FIX}`);
  const cfgPath = join(dir, 'tokenizer_config.json');
  const cfg = existsSync(cfgPath) ? readJsonObject(cfgPath) : {};
  return tokenizerFromJson(readJsonObject(tokPath), cfg, extraEosIds);
}

function readJsonObject(path: string): Json {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new TandemError(
      'BAD_TOKENIZER',
      `${path} is not valid JSON (${why}); re-download it from the model repository`,
    );
  }
  if (!isRecord(parsed)) {
    throw new TandemError('BAD_TOKENIZER', `${path} is not a JSON object; re-download it from the model repository`);
  }
  return parsed;
}
