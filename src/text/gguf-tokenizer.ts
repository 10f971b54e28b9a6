/**
 * GGUF tokenizer metadata (llama.cpp's `tokenizer.ggml.*` keys) ↔ HF `tokenizer.json` objects.
 *
 * GGUF input becomes an equivalent `tokenizer.json` first, so both checkpoint formats share one encoder.
 * Conventions follow llama.cpp `convert_hf_to_gguf.py` `get_vocab_base` / `_set_vocab_gpt2`: tokens are the
 * byte-level strings ("Ġworld"), merges are "left right", added special tokens (or ones that look special) are
 * CONTROL (3), other added tokens USER_DEFINED (4), ids missing from the vocabulary are `[PAD{i}]` UNUSED (5).
 * `tokenizer.ggml.pre` names the pre-tokenizer regex (`src/llama-vocab.cpp`); only the names in
 * `SPLIT_REGEXES` plus GPT-2's are known here.
 */
import { TandemError } from '../errors.js';
import {
  addedTokensOf,
  badJson,
  isRecord,
  modelVocabOf,
  tokenString,
  tokenizerFromJson,
  bosTemplate,
  bpeModel,
  type Json,
  type TextTokenizer,
} from './hf-tokenizer.js';

/** GGUF tokenizer metadata (llama.cpp keys, already extracted by the caller). */
export interface GgufTokenizerMeta {
  /** `tokenizer.ggml.model`; must be "gpt2". */
  model: string;
  /** `tokenizer.ggml.pre`; selects the pre-tokenizer regex. */
  pre?: string;
  tokens: readonly string[];
  /** 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte. */
  tokenTypes?: readonly number[];
  merges: readonly string[];
  bosId?: number;
  eosId?: number;
  padId?: number;
  unkId?: number;
  addBosToken?: boolean;
  chatTemplate?: string;
}

const TOKEN_TYPE = { normal: 1, unknown: 2, control: 3, userDefined: 4, unused: 5 } as const;

/** Pre-tokenizer regexes by `tokenizer.ggml.pre` name, as in the models' own tokenizer.json files. */
const GPT2_PRE = 'gpt-2';
const SPLIT_REGEXES: Readonly<Record<string, string>> = {
  'llama-bpe': String.raw`(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`,
  tekken: String.raw`[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+`,
};
const PRE_ALIASES: Readonly<Record<string, string>> = { default: GPT2_PRE, gpt2: GPT2_PRE, pixtral: 'tekken' };

// ---------------------------------------------------------------------------------------------------------
// GGUF → tokenizer.json

export function tokenizerFromGguf(meta: GgufTokenizerMeta): TextTokenizer {
  const { tokenizerJson, tokenizerConfig } = tokenizerFilesFromGguf(meta);
  return tokenizerFromJson(tokenizerJson, tokenizerConfig);
}

function ggufError(what: string): TandemError {
  return new TandemError(
    'BAD_TOKENIZER',
    `GGUF tokenizer metadata ${what}; convert the model from its HF directory or load that directory instead`,
  );
}

function preTokenizerFor(pre: string | undefined): Json {
  const name = PRE_ALIASES[pre ?? GPT2_PRE] ?? pre ?? GPT2_PRE;
  if (name === GPT2_PRE) return { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  const regex = SPLIT_REGEXES[name];
  if (regex === undefined) {
    const known = [GPT2_PRE, ...Object.keys(SPLIT_REGEXES), ...Object.keys(PRE_ALIASES)].join(', ');
    throw ggufError(`names pre-tokenizer "${name}", which tandem does not know (known: ${known})`);
  }
  return {
    type: 'Sequence',
    pretokenizers: [
      { type: 'Split', pattern: { Regex: regex }, behavior: 'Isolated', invert: false },
      { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
    ],
  };
}

function checkGgufMeta(meta: GgufTokenizerMeta): void {
  if (meta.model !== 'gpt2')
    throw ggufError(`has tokenizer.ggml.model "${meta.model}" (only "gpt2" byte-level BPE is supported)`);
  const n = meta.tokens.length;
  if (n === 0) throw ggufError('has an empty tokenizer.ggml.tokens list');
  if (meta.tokenTypes !== undefined && meta.tokenTypes.length !== n) {
    throw ggufError(`has ${meta.tokenTypes.length} token types for ${n} tokens`);
  }
  for (const [key, id] of Object.entries({ bos: meta.bosId, eos: meta.eosId, pad: meta.padId, unk: meta.unkId })) {
    if (id !== undefined && (!Number.isInteger(id) || id < 0 || id >= n)) {
      throw ggufError(`has ${key} token id ${id} outside the vocabulary (0..${n - 1})`);
    }
  }
}

/** The HF tokenizer.json and tokenizer_config.json objects equivalent to GGUF tokenizer metadata. */
export function tokenizerFilesFromGguf(meta: GgufTokenizerMeta): { tokenizerJson: Json; tokenizerConfig: Json } {
  checkGgufMeta(meta);
  const vocab: Json = Object.create(null) as Json;
  const added: Json[] = [];
  meta.tokens.forEach((token, id) => {
    if (!(token in vocab)) vocab[token] = id;
    const type = meta.tokenTypes?.[id] ?? TOKEN_TYPE.normal;
    if (type === TOKEN_TYPE.control || type === TOKEN_TYPE.unknown || type === TOKEN_TYPE.userDefined) {
      const special = type !== TOKEN_TYPE.userDefined;
      added.push({ id, content: token, single_word: false, lstrip: false, rstrip: false, normalized: false, special });
    }
  });
  const at = (id: number | undefined): string | undefined => (id === undefined ? undefined : meta.tokens[id]);
  const { bosId } = meta;
  const bos = at(bosId);
  const addBos = meta.addBosToken === true && bos !== undefined && bosId !== undefined;
  const postProcessor =
    addBos && bosId !== undefined && bos !== undefined
      ? bosTemplate(bos, bosId)
      : { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: true };
  const tokenizerJson: Json = {
    version: '1.0',
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: preTokenizerFor(meta.pre),
    post_processor: postProcessor,
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: bpeModel(vocab, [...meta.merges], at(meta.unkId)),
  };
  const tokenizerConfig: Json = {
    bos_token: bos ?? null,
    eos_token: at(meta.eosId) ?? null,
    pad_token: at(meta.padId) ?? null,
    unk_token: at(meta.unkId) ?? null,
    add_bos_token: addBos,
    add_eos_token: false,
    clean_up_tokenization_spaces: false,
    ...(meta.chatTemplate !== undefined ? { chat_template: meta.chatTemplate } : {}),
  };
  return { tokenizerJson, tokenizerConfig };
}

// ---------------------------------------------------------------------------------------------------------
// tokenizer.json → GGUF

/** llama.cpp's `does_token_look_special`: added tokens not marked special that still are control tokens. */
function looksSpecial(t: string): boolean {
  return (
    ['<pad>', '<mask>', '<2mass>', '[@BOS@]'].includes(t) ||
    (t.startsWith('<|') && t.endsWith('|>')) ||
    (t.startsWith('<｜') && t.endsWith('｜>')) ||
    (t.startsWith('<unused') && t.endsWith('>'))
  );
}

function detectPre(pre: unknown): string {
  if (isRecord(pre) && pre['type'] === 'ByteLevel' && pre['use_regex'] !== false && pre['add_prefix_space'] !== true) {
    return GPT2_PRE;
  }
  const steps = isRecord(pre) && pre['type'] === 'Sequence' ? pre['pretokenizers'] : undefined;
  if (Array.isArray(steps) && steps.length === 2) {
    const [split, byteLevel] = steps as unknown[];
    const pattern = isRecord(split) && split['type'] === 'Split' ? split['pattern'] : undefined;
    const regex = isRecord(pattern) ? pattern['Regex'] : undefined;
    const name = Object.keys(SPLIT_REGEXES).find((k) => SPLIT_REGEXES[k] === regex);
    const plainByteLevel = isRecord(byteLevel) && byteLevel['type'] === 'ByteLevel' && byteLevel['use_regex'] === false;
    if (name !== undefined && plainByteLevel) return name;
  }
  const known = [GPT2_PRE, ...Object.keys(SPLIT_REGEXES)].join(', ');
  throw new TandemError(
    'BAD_TOKENIZER',
    `tokenizer.json has a pre-tokenizer GGUF cannot name (known: ${known}); keep the model as an HF directory instead of converting it`,
  );
}

function mergeStrings(model: Json): string[] {
  const merges = model['merges'];
  if (!Array.isArray(merges)) throw badJson('model.merges is not a list');
  return merges.map((m: unknown) => {
    if (typeof m === 'string') return m;
    if (Array.isArray(m) && m.length === 2 && m.every((x) => typeof x === 'string' && !x.includes(' ')))
      return m.join(' ');
    throw badJson(`merge ${JSON.stringify(m)} is neither "a b" nor a pair of space-free strings`);
  });
}

/** GGUF "gpt2" can carry only byte-level BPE: a BPE model, a ByteLevel decoder and no normalizer. */
function checkByteLevelBpe(tj: Json): Json {
  const model = tj['model'];
  const decoder = tj['decoder'];
  if (!isRecord(model) || model['type'] !== 'BPE') {
    throw badJson('model is not BPE (GGUF "gpt2" needs byte-level BPE)');
  }
  if (!isRecord(decoder) || decoder['type'] !== 'ByteLevel') {
    throw badJson('decoder is not ByteLevel (GGUF "gpt2" needs byte-level BPE)');
  }
  if (tj['normalizer'] !== undefined && tj['normalizer'] !== null) {
    throw badJson('it has a normalizer, which GGUF "gpt2" cannot carry');
  }
  return model;
}

/** `tokenizer.ggml.tokens` and `.token_type` for ids `0..vocabSize-1`, as llama.cpp's `get_vocab_base`. */
function ggufTokenList(tj: Json, vocabSize: number): { tokens: string[]; tokenTypes: number[] } {
  const addedById = new Map(addedTokensOf(tj).map((a) => [a.id, a]));
  const byId = new Map<number, string>();
  for (const [s, id] of Object.entries(modelVocabOf(tj))) if (typeof id === 'number') byId.set(id, s);
  const tokens: string[] = [];
  const tokenTypes: number[] = [];
  for (let id = 0; id < vocabSize; id++) {
    const a = addedById.get(id);
    const s = a?.content ?? byId.get(id);
    if (s === undefined) {
      tokens.push(`[PAD${id}]`);
      tokenTypes.push(TOKEN_TYPE.unused);
      continue;
    }
    tokens.push(s);
    if (a === undefined) tokenTypes.push(TOKEN_TYPE.normal);
    else tokenTypes.push(a.special || looksSpecial(s) ? TOKEN_TYPE.control : TOKEN_TYPE.userDefined);
  }
  return { tokens, tokenTypes };
}

/** The inverse of `tokenizerFromGguf`, used when writing a GGUF. */
export function tokenizerToGgufMeta(tok: object, config: object): GgufTokenizerMeta {
  const tj = tok as Json;
  const cfg = config as Json;
  const model = checkByteLevelBpe(tj);
  const t = tokenizerFromJson(tj, cfg);
  const { tokens, tokenTypes } = ggufTokenList(tj, t.vocabSize);
  const firstId = new Map<string, number>();
  tokens.forEach((s, id) => firstId.has(s) || firstId.set(s, id));
  const idOf = (v: unknown): number | undefined => firstId.get(tokenString(v) ?? '');
  const padId = idOf(cfg['pad_token']);
  const unkId = idOf(model['unk_token'] ?? cfg['unk_token']);
  const eosId = t.eosIds[0];
  return {
    model: 'gpt2',
    pre: detectPre(tj['pre_tokenizer']),
    tokens,
    tokenTypes,
    merges: mergeStrings(model),
    addBosToken: t.addBos,
    ...(t.bosId !== undefined ? { bosId: t.bosId } : {}),
    ...(eosId !== undefined ? { eosId } : {}),
    ...(padId !== undefined ? { padId } : {}),
    ...(unkId !== undefined ? { unkId } : {}),
    ...(t.chatTemplate !== undefined ? { chatTemplate: t.chatTemplate } : {}),
  };
}
