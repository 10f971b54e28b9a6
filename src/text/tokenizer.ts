/**
 * Text ↔ token ids for byte-level BPE models (Nemotron-H ships only `tokenizer.json`, spec §5.4).
 *
 * One `TextTokenizer` interface over `@huggingface/tokenizers`, built from either an HF model directory
 * (`tokenizer.json` + optional `tokenizer_config.json`) or GGUF tokenizer metadata (llama.cpp keys).
 * GGUF input is turned into an equivalent `tokenizer.json` object first, so both paths share one encoder.
 *
 * Special tokens added by `encode(..., { addSpecial: true })`: the post-processor of `tokenizer.json` is
 * probed once (what does it put around a plain text?), then `add_bos_token` / `add_eos_token: true` in
 * `tokenizer_config.json` add BOS / EOS where the post-processor does not. A `false` there does not remove a
 * BOS the post-processor prepends: that is what HF's generic fast tokenizer and llama.cpp's converter do for
 * Nemotron-H, whose post-processor prepends `<s>` while its config is silent.
 *
 * Reference: llama.cpp `convert_hf_to_gguf.py` `get_vocab_base` / `_set_vocab_gpt2` (token types, `[PAD{i}]`
 * holes, `does_token_look_special`) and `src/llama-vocab.cpp` (pre-tokenizer regexes by `tokenizer.ggml.pre`).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { TandemError } from '../errors.js';

export interface TextTokenizer {
  readonly vocabSize: number;
  readonly bosId: number | undefined;
  /** From tokenizer_config `eos_token`, plus generation_config ids passed in by the caller. */
  readonly eosIds: readonly number[];
  /** Whether `encode(..., { addSpecial: true })` prepends BOS. */
  readonly addBos: boolean;
  readonly chatTemplate: string | undefined;
  /** `addSpecial` defaults to true; special-token strings in `text` (e.g. "<|im_start|>") become their ids. */
  encode(text: string, opts?: { addSpecial?: boolean }): number[];
  decode(ids: readonly number[], opts?: { skipSpecial?: boolean }): string;
  /** The raw vocabulary string (byte-level encoded, e.g. "Ġworld"), for debugging. */
  tokenText(id: number): string;
  isSpecial(id: number): boolean;
}

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

type Json = Record<string, unknown>;

const TOKEN_TYPE = { normal: 1, unknown: 2, control: 3, userDefined: 4, unused: 5 } as const;
const DIR_FIX = 'point --model at a directory that has tokenizer.json';

/** Pre-tokenizer regexes by `tokenizer.ggml.pre` name, as in the models' own tokenizer.json files. */
const GPT2_PRE = 'gpt-2';
const SPLIT_REGEXES: Readonly<Record<string, string>> = {
  'llama-bpe': String.raw`(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`,
  tekken: String.raw`[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+`,
};
const PRE_ALIASES: Readonly<Record<string, string>> = { default: GPT2_PRE, gpt2: GPT2_PRE, pixtral: 'tekken' };

// ---------------------------------------------------------------------------------------------------------
// Loading

export function loadTokenizerDir(dir: string, extraEosIds: readonly number[] = []): TextTokenizer {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new TandemError('NOT_FOUND', `model directory ${dir} does not exist; ${DIR_FIX}`);
  }
  const tokPath = join(dir, 'tokenizer.json');
  if (!existsSync(tokPath)) throw new TandemError('NOT_FOUND', `no tokenizer.json in ${dir}; ${DIR_FIX}`);
  const cfgPath = join(dir, 'tokenizer_config.json');
  const cfg = existsSync(cfgPath) ? readJsonObject(cfgPath) : {};
  return buildTokenizer(readJsonObject(tokPath), cfg, extraEosIds);
}

export function tokenizerFromJson(tokenizerJson: object, tokenizerConfig: object): TextTokenizer {
  return buildTokenizer(tokenizerJson as Json, tokenizerConfig as Json, []);
}

function readJsonObject(path: string): Json {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new TandemError('BAD_TOKENIZER', `${path} is not valid JSON (${why}); re-download it from the model repository`);
  }
  if (!isRecord(parsed)) {
    throw new TandemError('BAD_TOKENIZER', `${path} is not a JSON object; re-download it from the model repository`);
  }
  return parsed;
}

function isRecord(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Config token fields are either a string or a serialized AddedToken `{ content, ... }`. */
function tokenString(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (isRecord(v) && typeof v['content'] === 'string') return v['content'];
  return undefined;
}

/** `chat_template` is a string, or a list of `{ name, template }` where "default" is the chat one. */
function chatTemplateOf(cfg: Json): string | undefined {
  const t = cfg['chat_template'];
  if (typeof t === 'string') return t;
  if (!Array.isArray(t)) return undefined;
  const named = t.filter(isRecord);
  const pick = named.find((x) => x['name'] === 'default') ?? named[0];
  return typeof pick?.['template'] === 'string' ? pick['template'] : undefined;
}

interface AddedTokenJson {
  id: number;
  content: string;
  special: boolean;
}

function addedTokensOf(tok: Json): AddedTokenJson[] {
  const raw = tok['added_tokens'];
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) throw badJson('added_tokens is not a list');
  return raw.map((t): AddedTokenJson => {
    if (!isRecord(t) || typeof t['content'] !== 'string' || !Number.isInteger(t['id'])) {
      throw badJson('an added_tokens entry lacks an integer id or a string content');
    }
    return { id: t['id'] as number, content: t['content'], special: t['special'] === true };
  });
}

function badJson(what: string): TandemError {
  return new TandemError('BAD_TOKENIZER', `tokenizer.json is malformed: ${what}; ${DIR_FIX} from the model repository`);
}

function modelVocabOf(tok: Json): Json {
  const model = tok['model'];
  if (!isRecord(model)) throw badJson('no "model" object');
  const vocab = model['vocab'];
  if (!isRecord(vocab)) throw badJson(`model type ${String(model['type'])} has no vocab map (only BPE is supported)`);
  return vocab;
}

function computeVocabSize(tok: Json, added: readonly AddedTokenJson[]): number {
  let max = -1;
  for (const id of Object.values(modelVocabOf(tok))) {
    if (typeof id === 'number' && id > max) max = id;
  }
  for (const t of added) if (t.id > max) max = t.id;
  return max + 1;
}

// ---------------------------------------------------------------------------------------------------------
// The tokenizer

interface SpecialFrame {
  prefix: number[];
  suffix: number[];
}

function buildTokenizer(tok: Json, cfg: Json, extraEosIds: readonly number[]): TextTokenizer {
  const added = addedTokensOf(tok);
  const vocabSize = computeVocabSize(tok, added);
  // The library requires these keys to exist (null is fine) and iterates added_tokens unconditionally.
  const full: Json = { normalizer: null, pre_tokenizer: null, post_processor: null, decoder: null, ...tok, added_tokens: tok['added_tokens'] ?? [] };
  let lib: Tokenizer;
  try {
    lib = new Tokenizer(full, cfg);
  } catch (e) {
    throw badJson(e instanceof Error ? e.message : String(e));
  }
  const idOf = (v: unknown): number | undefined => {
    const s = tokenString(v);
    return s === undefined ? undefined : lib.token_to_id(s);
  };
  const frame = probeFrame(lib);
  const bosId = idOf(cfg['bos_token']) ?? (frame.prefix.length === 1 ? frame.prefix[0] : undefined);
  const eosIds = [...new Set([idOf(cfg['eos_token']), ...extraEosIds].filter((x): x is number => x !== undefined))];
  for (const id of eosIds) {
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
      throw new TandemError('BAD_TOKENIZER', `eos token id ${id} is outside the vocabulary (0..${vocabSize - 1}); fix eos_token_id in generation_config.json`);
    }
  }
  if (cfg['add_bos_token'] === true && bosId !== undefined && frame.prefix[0] !== bosId) frame.prefix.unshift(bosId);
  const eos0 = eosIds[0];
  if (cfg['add_eos_token'] === true && eos0 !== undefined && frame.suffix.at(-1) !== eos0) frame.suffix.push(eos0);
  const special = new Set(added.filter((t) => t.special).map((t) => t.id));
  const extraSpecial = cfg['additional_special_tokens'];
  if (Array.isArray(extraSpecial)) {
    for (const s of extraSpecial) {
      const id = idOf(s);
      if (id !== undefined) special.add(id);
    }
  }
  return new HfTextTokenizer(lib, {
    vocabSize,
    bosId,
    eosIds,
    frame,
    special,
    chatTemplate: chatTemplateOf(cfg),
    cleanup: cfg['clean_up_tokenization_spaces'] === true,
  });
}

/** What the post-processor puts around a plain text: ids before and after the text's own ids. */
function probeFrame(lib: Tokenizer): SpecialFrame {
  // Typed by hand: the package's .d.ts files use extensionless imports, so NodeNext resolves Encoding to any.
  const plain: number[] = lib.encode('a', { add_special_tokens: false }).ids;
  const framed: number[] = lib.encode('a', { add_special_tokens: true }).ids;
  for (let i = 0; i + plain.length <= framed.length; i++) {
    if (plain.every((id, j) => framed[i + j] === id)) {
      return { prefix: framed.slice(0, i), suffix: framed.slice(i + plain.length) };
    }
  }
  return { prefix: [], suffix: [] };
}

interface TokenizerInfo {
  vocabSize: number;
  bosId: number | undefined;
  eosIds: number[];
  frame: SpecialFrame;
  special: ReadonlySet<number>;
  chatTemplate: string | undefined;
  cleanup: boolean;
}

class HfTextTokenizer implements TextTokenizer {
  readonly vocabSize: number;
  readonly bosId: number | undefined;
  readonly eosIds: readonly number[];
  readonly addBos: boolean;
  readonly chatTemplate: string | undefined;
  readonly #lib: Tokenizer;
  readonly #info: TokenizerInfo;

  constructor(lib: Tokenizer, info: TokenizerInfo) {
    this.#lib = lib;
    this.#info = info;
    this.vocabSize = info.vocabSize;
    this.bosId = info.bosId;
    this.eosIds = info.eosIds;
    this.addBos = info.bosId !== undefined && info.frame.prefix[0] === info.bosId;
    this.chatTemplate = info.chatTemplate;
  }

  encode(text: string, opts: { addSpecial?: boolean } = {}): number[] {
    const ids: Array<number | undefined> = this.#lib.encode(text, { add_special_tokens: false }).ids;
    if (!ids.every((id): id is number => id !== undefined)) {
      throw new TandemError('BAD_INPUT', 'the text has characters this tokenizer cannot represent and it has no unknown token; remove them');
    }
    if (opts.addSpecial === false) return ids;
    return [...this.#info.frame.prefix, ...ids, ...this.#info.frame.suffix];
  }

  decode(ids: readonly number[], opts: { skipSpecial?: boolean } = {}): string {
    if (ids.length === 0) return '';
    for (const id of ids) this.tokenText(id);
    return this.#lib.decode([...ids], {
      skip_special_tokens: opts.skipSpecial ?? false,
      clean_up_tokenization_spaces: this.#info.cleanup,
    });
  }

  tokenText(id: number): string {
    const text = Number.isInteger(id) ? this.#lib.id_to_token(id) : undefined;
    if (text === undefined) {
      throw new TandemError('BAD_INPUT', `token id ${id} is not in the vocabulary (0..${this.vocabSize - 1}); pass ids produced by this model's tokenizer`);
    }
    return text;
  }

  isSpecial(id: number): boolean {
    return this.#info.special.has(id);
  }
}

// ---------------------------------------------------------------------------------------------------------
// GGUF → tokenizer.json

export function tokenizerFromGguf(meta: GgufTokenizerMeta): TextTokenizer {
  const { tokenizerJson, tokenizerConfig } = tokenizerFilesFromGguf(meta);
  return tokenizerFromJson(tokenizerJson, tokenizerConfig);
}

function ggufError(what: string): TandemError {
  return new TandemError('BAD_TOKENIZER', `GGUF tokenizer metadata ${what}; convert the model from its HF directory or load that directory instead`);
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
  if (meta.model !== 'gpt2') throw ggufError(`has tokenizer.ggml.model "${meta.model}" (only "gpt2" byte-level BPE is supported)`);
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
  const bos = at(meta.bosId);
  const addBos = meta.addBosToken === true && bos !== undefined && meta.bosId !== undefined;
  const postProcessor = addBos ? bosTemplate(bos, meta.bosId as number) : { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: true };
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

/** An HF `model` object for byte-level BPE. */
export function bpeModel(vocab: Json, merges: string[], unkToken: string | undefined): Json {
  return {
    type: 'BPE',
    dropout: null,
    unk_token: unkToken ?? null,
    continuing_subword_prefix: null,
    end_of_word_suffix: null,
    fuse_unk: false,
    byte_fallback: false,
    ignore_merges: false,
    vocab,
    merges,
  };
}

/** A TemplateProcessing post-processor that prepends `bos` to every sequence (Nemotron-H's). */
export function bosTemplate(bos: string, bosId: number): Json {
  return {
    type: 'TemplateProcessing',
    single: [{ SpecialToken: { id: bos, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
    pair: [
      { SpecialToken: { id: bos, type_id: 0 } },
      { Sequence: { id: 'A', type_id: 0 } },
      { SpecialToken: { id: bos, type_id: 1 } },
      { Sequence: { id: 'B', type_id: 1 } },
    ],
    special_tokens: { [bos]: { id: bos, ids: [bosId], tokens: [bos] } },
  };
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
    if (name !== undefined && isRecord(byteLevel) && byteLevel['type'] === 'ByteLevel' && byteLevel['use_regex'] === false) return name;
  }
  const known = [GPT2_PRE, ...Object.keys(SPLIT_REGEXES)].join(', ');
  throw new TandemError('BAD_TOKENIZER', `tokenizer.json has a pre-tokenizer GGUF cannot name (known: ${known}); keep the model as an HF directory instead of converting it`);
}

function mergeStrings(model: Json): string[] {
  const merges = model['merges'];
  if (!Array.isArray(merges)) throw badJson('model.merges is not a list');
  return merges.map((m: unknown) => {
    if (typeof m === 'string') return m;
    if (Array.isArray(m) && m.length === 2 && m.every((x) => typeof x === 'string' && !x.includes(' '))) return m.join(' ');
    throw badJson(`merge ${JSON.stringify(m)} is neither "a b" nor a pair of space-free strings`);
  });
}

/** The inverse of `tokenizerFromGguf`, used when writing a GGUF. */
export function tokenizerToGgufMeta(tok: object, config: object): GgufTokenizerMeta {
  const tj = tok as Json;
  const cfg = config as Json;
  const model = tj['model'];
  if (!isRecord(model) || model['type'] !== 'BPE') throw badJson('model is not BPE (GGUF "gpt2" needs byte-level BPE)');
  if (!isRecord(tj['decoder']) || tj['decoder']['type'] !== 'ByteLevel') throw badJson('decoder is not ByteLevel (GGUF "gpt2" needs byte-level BPE)');
  if (tj['normalizer'] !== undefined && tj['normalizer'] !== null) throw badJson('it has a normalizer, which GGUF "gpt2" cannot carry');
  const t = tokenizerFromJson(tj, cfg);
  const addedById = new Map(addedTokensOf(tj).map((a) => [a.id, a]));
  const byId = new Map<number, string>();
  for (const [s, id] of Object.entries(modelVocabOf(tj))) if (typeof id === 'number') byId.set(id, s);
  const tokens: string[] = [];
  const tokenTypes: number[] = [];
  for (let id = 0; id < t.vocabSize; id++) {
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
  const firstId = new Map<string, number>();
  tokens.forEach((s, id) => firstId.has(s) || firstId.set(s, id));
  const idOf = (v: unknown): number | undefined => firstId.get(tokenString(v) ?? '');
  const padId = idOf(cfg['pad_token']);
  const unkId = idOf(model['unk_token'] ?? cfg['unk_token']);
  const eosId = t.eosIds[0];
  const meta: GgufTokenizerMeta = {
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
  return meta;
}
