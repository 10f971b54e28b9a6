/**
 * A small, deterministic byte-level BPE tokenizer for generated test models (P15: no downloads).
 *
 * Vocabulary: ids 0–4 are `<unk>`, `<s>`, `</s>`, `<|im_start|>`, `<|im_end|>` (special added tokens, also in
 * the model vocab, as in Nemotron-H); ids 5–260 are the 256 GPT-2 byte-level symbols in byte order (byte b is
 * id 5 + b); then one id per merge, learned by plain BPE training on `TINY_CORPUS` after GPT-2 regex
 * pre-tokenization. Each round merges the most frequent adjacent pair; ties go to the lexicographically
 * smallest (left, right) pair. The default 200 merges give 461 ids.
 *
 * The post-processor is a TemplateProcessing that prepends `<s>`, like Nemotron-H's tokenizer.json, so the
 * generated models exercise the same BOS path as real ones (tokenizer_config.json also says
 * add_bos_token: true, which agrees).
 */
import { DEFAULT_CHATML_TEMPLATE } from './chat-template.js';
import { bosTemplate, bpeModel } from './hf-tokenizer.js';

const SPECIALS = ['<unk>', '<s>', '</s>', '<|im_start|>', '<|im_end|>'] as const;

/** GPT-2's pre-tokenization regex (what a ByteLevel pre-tokenizer with use_regex: true applies). */
const GPT2_SPLIT = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/** Original prose, embedded so the merges never change. */
export const TINY_CORPUS = `Hello world. A hybrid model mixes two kinds of layers. Most layers are state space layers in the \
style of Mamba, and a few layers are attention layers. The state space layers read the tokens one at a time \
and keep a small state of fixed size, so their memory does not grow with the length of the text. The \
attention layers keep every key and value they have seen, so their memory grows with every token. A hybrid \
model keeps most of the speed of the state space layers and still has the attention layers to look back \
at any token in the context.

Tokens are the units the model reads and writes. A tokenizer turns text into tokens and tokens back into \
text. This tokenizer works on bytes, so it can write any text at all, even text it has never seen. It \
starts from single bytes and learns to merge the pairs of tokens that appear most often, such as the \
letters of common words like the, and, state, model, layer, token and memory. Hello world, say the tests, \
and the tokenizer should need fewer tokens than bytes to write it.

When the model writes text, it writes one token at a time. Each new token updates the state of every state \
space layer and adds one key and one value to every attention layer. The state of the model after a prompt \
can be saved and loaded again later, so a long prompt that many requests share is read only once. Saving \
the state of a hybrid model means saving the small state of each state space layer and the keys and values \
of each attention layer. The memory for the attention layers is kept in pages, and the pages of a shared \
prompt can be shared between requests as well.

Some layers are mixtures of experts. A router picks a few experts for each token, and only those experts \
run, so the model can hold many parameters and still run fast. The tests use a tiny model with random \
weights, a tiny vocabulary and a tiny context, so they can run anywhere in a few seconds and still check \
that the hybrid model, the tokenizer and the memory of the state all work together.
`;

/** GPT-2's byte → printable character table (`bytes_to_unicode`), indexed by byte value. */
export function byteLevelAlphabet(): string[] {
  const printable = (b: number): boolean =>
    (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const out: string[] = [];
  let next = 256;
  for (let b = 0; b < 256; b++) out.push(String.fromCharCode(printable(b) ? b : next++));
  return out;
}

function toByteLevel(text: string, alphabet: readonly string[]): string {
  return Array.from(new TextEncoder().encode(text), (b) => alphabet[b]).join('');
}

/** Plain BPE training over word counts; returns merges as (left, right) pairs, in rank order. */
function learnMerges(corpus: string, count: number, alphabet: readonly string[]): Array<[string, string]> {
  const wordCounts = new Map<string, number>();
  for (const w of corpus.match(GPT2_SPLIT) ?? []) {
    const key = toByteLevel(w, alphabet);
    wordCounts.set(key, (wordCounts.get(key) ?? 0) + 1);
  }
  const words = [...wordCounts].map(([w, n]) => ({ parts: Array.from(w), n }));
  const merges: Array<[string, string]> = [];
  while (merges.length < count) {
    const pairs = new Map<string, number>(); // "left right" → frequency; ' ' never occurs in a symbol
    for (const { parts, n } of words) {
      for (let i = 0; i + 1 < parts.length; i++) {
        const key = `${parts[i]} ${parts[i + 1]}`;
        pairs.set(key, (pairs.get(key) ?? 0) + n);
      }
    }
    let best: string | undefined;
    let bestN = 0;
    for (const [key, n] of pairs) {
      // ' ' sorts below every symbol, so comparing "l r" strings compares (l, r) pairs.
      if (n > bestN || (n === bestN && best !== undefined && key < best)) {
        best = key;
        bestN = n;
      }
    }
    if (best === undefined) break;
    const [left, right] = best.split(' ') as [string, string];
    merges.push([left, right]);
    for (const w of words) w.parts = mergePair(w.parts, left, right);
  }
  return merges;
}

function mergePair(parts: readonly string[], left: string, right: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < parts.length; i++) {
    if (parts[i] === left && parts[i + 1] === right) {
      out.push(left + right);
      i++;
    } else {
      out.push(parts[i]!);
    }
  }
  return out;
}

/** A valid HF tokenizer.json + tokenizer_config.json pair; `merges` defaults to 200. */
export function makeTinyTokenizer(opts: { merges?: number } = {}): { tokenizerJson: object; tokenizerConfig: object } {
  const alphabet = byteLevelAlphabet();
  const vocab: Record<string, number> = Object.create(null) as Record<string, number>;
  const add = (s: string): void => {
    if (!(s in vocab)) vocab[s] = Object.keys(vocab).length;
  };
  SPECIALS.forEach(add);
  alphabet.forEach(add);
  const merges = learnMerges(TINY_CORPUS, opts.merges ?? 200, alphabet);
  for (const [l, r] of merges) add(l + r);
  const addedTokens = SPECIALS.map((content, id) => ({
    id,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  }));
  const tokenizerJson = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: addedTokens,
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: bosTemplate('<s>', 1),
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: bpeModel(
      vocab,
      merges.map(([l, r]) => `${l} ${r}`),
      '<unk>',
    ),
  };
  const addedTokensDecoder = Object.fromEntries(addedTokens.map(({ id, ...rest }) => [String(id), rest]));
  const tokenizerConfig = {
    tokenizer_class: 'PreTrainedTokenizerFast',
    add_bos_token: true,
    add_eos_token: false,
    bos_token: '<s>',
    eos_token: '</s>',
    unk_token: '<unk>',
    pad_token: '<unk>',
    model_max_length: 4096,
    clean_up_tokenization_spaces: false,
    added_tokens_decoder: addedTokensDecoder,
    chat_template: DEFAULT_CHATML_TEMPLATE,
  };
  return { tokenizerJson, tokenizerConfig };
}
