/**
 * HF `tokenizer.json` (+ `tokenizer_config.json`) → `TextTokenizer`, over `@huggingface/tokenizers`.
 *
 * Special tokens added by `encode(..., { addSpecial: true })`: the post-processor of `tokenizer.json` is
 * probed once (what does it put around a plain text?), then `add_bos_token` / `add_eos_token: true` in
 * `tokenizer_config.json` add BOS / EOS where the post-processor does not. A `false` there does not remove a
 * BOS the post-processor prepends: that is what HF's generic fast tokenizer and llama.cpp's converter do for
 * Nemotron-H, whose post-processor prepends `<s>` while its config is silent (spec §5.4).
 * `clean_up_tokenization_spaces` is honoured only when the config sets it to true (it breaks round trips).
 */
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

export type Json = Record<string, unknown>;

export const DIR_FIX = 'point --model at a directory that has tokenizer.json';

export function isRecord(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Config token fields are either a string or a serialized AddedToken `{ content, ... }`. */
export function tokenString(v: unknown): string | undefined {
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

export interface AddedTokenJson {
  id: number;
  content: string;
  special: boolean;
}

export function addedTokensOf(tok: Json): AddedTokenJson[] {
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

export function badJson(what: string): TandemError {
  return new TandemError('BAD_TOKENIZER', `tokenizer.json is malformed: ${what}; ${DIR_FIX} from the model repository`);
}

export function modelVocabOf(tok: Json): Json {
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

/**
 * Builds the tokenizer from parsed `tokenizer.json` and `tokenizer_config.json` objects (`{}` when there is no
 * config); `extraEosIds` come from generation_config.json.
 */
export function tokenizerFromJson(
  tokenizerJson: object,
  tokenizerConfig: object,
  extraEosIds: readonly number[] = [],
): TextTokenizer {
  const tok = tokenizerJson as Json;
  const cfg = tokenizerConfig as Json;
  const added = addedTokensOf(tok);
  const vocabSize = computeVocabSize(tok, added);
  // The library requires these keys to exist (null is fine) and iterates added_tokens unconditionally.
  const full: Json = {
    normalizer: null,
    pre_tokenizer: null,
    post_processor: null,
    decoder: null,
    ...tok,
    added_tokens: tok['added_tokens'] ?? [],
  };
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
      throw new TandemError(
        'BAD_TOKENIZER',
        `eos token id ${id} is outside the vocabulary (0..${vocabSize - 1}); fix eos_token_id in generation_config.json`,
      );
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
      throw new TandemError(
        'BAD_INPUT',
        'the text has characters this tokenizer cannot represent and it has no unknown token; remove them',
      );
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
      throw new TandemError(
        'BAD_INPUT',
        `token id ${id} is not in the vocabulary (0..${this.vocabSize - 1}); pass ids produced by this model's tokenizer`,
      );
    }
    return text;
  }

  isSpecial(id: number): boolean {
    return this.#info.special.has(id);
  }
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
