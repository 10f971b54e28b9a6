/**
 * GGUF tokenizer metadata (llama.cpp `tokenizer.ggml.*` keys) ↔ `GgufTokenizerMeta`, for reading tokenizers out of
 * GGUF files and writing them into new ones.
 */
import { TandemError } from '../errors.js';
import { ggufArray, ggufBool, ggufNumberOr, ggufStringOr, type GgufFile, type GgufValue } from '../formats/gguf.js';
import type { GgufTokenizerMeta } from './gguf-tokenizer.js';

/** The tokenizer stored in a GGUF file's metadata; a clear error when there is none. */
export function ggufTokenizerMeta(f: GgufFile, path: string): GgufTokenizerMeta {
  const model = ggufStringOr(f, 'tokenizer.ggml.model', undefined);
  if (model === undefined) throw new TandemError('BAD_TOKENIZER', `${path} has no tokenizer metadata (tokenizer.ggml.*); re-export it with its tokenizer or use token ids`);
  const opt = (key: string): number | undefined => (f.metadata.has(key) ? ggufNumberOr(f, key, 0) : undefined);
  return {
    model,
    pre: ggufStringOr(f, 'tokenizer.ggml.pre', undefined),
    tokens: ggufArray(f, 'tokenizer.ggml.tokens').map(String),
    tokenTypes: f.metadata.has('tokenizer.ggml.token_type') ? ggufArray(f, 'tokenizer.ggml.token_type').map(Number) : undefined,
    merges: f.metadata.has('tokenizer.ggml.merges') ? ggufArray(f, 'tokenizer.ggml.merges').map(String) : [],
    bosId: opt('tokenizer.ggml.bos_token_id'),
    eosId: opt('tokenizer.ggml.eos_token_id'),
    padId: opt('tokenizer.ggml.padding_token_id'),
    unkId: opt('tokenizer.ggml.unknown_token_id'),
    addBosToken: f.metadata.has('tokenizer.ggml.add_bos_token') ? ggufBool(f, 'tokenizer.ggml.add_bos_token') : undefined,
    chatTemplate: ggufStringOr(f, 'tokenizer.chat_template', undefined),
  };
}

/** The `tokenizer.ggml.*` key/values llama.cpp reads, for a GGUF writer. */
export function ggufTokenizerKvs(m: GgufTokenizerMeta): Array<[string, GgufValue]> {
  const out: Array<[string, GgufValue]> = [
    ['tokenizer.ggml.model', { type: 'string', value: m.model }],
    ['tokenizer.ggml.pre', { type: 'string', value: m.pre ?? 'gpt-2' }],
    ['tokenizer.ggml.tokens', { type: 'array', itemType: 'string', values: [...m.tokens] }],
    ['tokenizer.ggml.token_type', { type: 'array', itemType: 'i32', values: [...(m.tokenTypes ?? m.tokens.map(() => 1))] }],
    ['tokenizer.ggml.merges', { type: 'array', itemType: 'string', values: [...m.merges] }],
  ];
  const ids: Array<[string, number | undefined]> = [
    ['bos_token_id', m.bosId], ['eos_token_id', m.eosId], ['padding_token_id', m.padId], ['unknown_token_id', m.unkId],
  ];
  for (const [k, v] of ids) if (v !== undefined) out.push([`tokenizer.ggml.${k}`, { type: 'u32', value: v }]);
  if (m.addBosToken !== undefined) out.push(['tokenizer.ggml.add_bos_token', { type: 'bool', value: m.addBosToken }]);
  if (m.chatTemplate !== undefined) out.push(['tokenizer.chat_template', { type: 'string', value: m.chatTemplate }]);
  return out;
}
