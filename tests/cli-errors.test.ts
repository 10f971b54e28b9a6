/**
 * Bad input through the CLI (developer rule): corrupt or truncated checkpoints, wrong shapes, unsupported configs,
 * malformed requests and unknown options each give one line `error[CODE]: …` naming the problem, exit 1, no stack
 * trace, and nothing lost. Corrupted files are always copies of the committed fixtures, never the fixtures.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeGguf } from '../src/formats/gguf.js';
import { assertOk, assertUserError, cliAsync, editConfig, fixtureCopy, scratch, type CliResult } from './cli-helpers.js';

const tmp = scratch('err');
after(() => tmp.cleanup());

/** A fresh copy of the dense fixture, changed by `mutate`. */
function broken(mutate: (dir: string) => void = () => {}): string {
  const dir = fixtureCopy('dense', tmp.dir('fx'));
  mutate(dir);
  return dir;
}

const run = (model: string, ...extra: string[]): Promise<CliResult> => cliAsync(['run', '--model', model, '--prompt', 'hello', '--max-tokens', '2', ...extra]);
const logprobs = (model: string, tokens: string, ...extra: string[]): Promise<CliResult> => cliAsync(['logprobs', '--model', model, '--tokens', tokens, ...extra]);
const st = (dir: string): string => join(dir, 'model.safetensors');
const gg = (dir: string): string => join(dir, 'model.gguf');
const size = (p: string): number => statSync(p).size;
const vocabOf = (dir: string): number => (JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as { vocab_size: number }).vocab_size;

// ── checkpoints ────────────────────────────────────────────────────────────────────────────────────────────────────

test('truncated model.safetensors (4 bytes, mid-header, mid-data)', async () => {
  const cuts: Array<[string, (n: number) => number, RegExp]> = [
    ['4 bytes', () => 4, /model\.safetensors: file is 4 bytes, shorter than the 8-byte header/],
    ['mid-header', () => 100, /model\.safetensors: truncated: header length \d+ runs past the end/],
    ['mid-data', (n) => Math.floor(n / 2), /model\.safetensors: truncated: tensor "[^"]+" ends at byte/],
  ];
  const rs = await Promise.all(cuts.map(([, at]) => run(broken((d) => truncateSync(st(d), at(size(st(d))))))));
  rs.forEach((r, i) => assertUserError(r, cuts[i]![2], { code: 'BAD_CHECKPOINT' }));
});

test('corrupt safetensors header JSON', async () => {
  const dir = broken((d) => {
    const b = readFileSync(st(d));
    b.write('{{', 8, 'latin1'); // the header JSON starts at byte 8
    writeFileSync(st(d), b);
  });
  assertUserError(await run(dir), /model\.safetensors: header is not valid JSON/, { code: 'BAD_CHECKPOINT' });
});

test('model.gguf with bad magic', async () => {
  const dir = broken((d) => {
    const b = readFileSync(gg(d));
    b.write('XXXX', 0, 'latin1');
    writeFileSync(gg(d), b);
  });
  assertUserError(await run(gg(dir)), /model\.gguf is not a GGUF file/, { code: 'BAD_CHECKPOINT' });
});

test('truncated GGUF (mid fixed header, mid-metadata, mid-tensor-data)', async () => {
  const cuts = [12, 2000, (n: number) => Math.floor(n * 0.6)];
  const rs = await Promise.all(cuts.map((at) => run(gg(broken((d) => truncateSync(gg(d), typeof at === 'number' ? at : at(size(gg(d)))))))));
  for (const r of rs) assertUserError(r, /model\.gguf is truncated/, { code: 'BAD_CHECKPOINT' });
});

test('wrong tensor shapes: hidden_size and intermediate_size edited in config.json list the mis-shaped tensors', async () => {
  const [h, i] = await Promise.all([
    run(broken((d) => editConfig(d, { hidden_size: 64 }))),
    run(broken((d) => editConfig(d, { intermediate_size: 128 }))),
  ]);
  assertUserError(h!, /does not match its config: \d+ mis-shaped: backbone\.embeddings\.weight is \[\d+, 96\], expected \[\d+, 64\]/, { code: 'TENSOR_MISMATCH' });
  assertUserError(i!, /mis-shaped: .*up_proj\.weight is \[160, 96\], expected \[128, 96\]/, { code: 'TENSOR_MISMATCH' });
});

test('GGUF of a non-Nemotron architecture', async () => {
  const path = join(tmp.dir('llama'), 'llama.gguf');
  writeGguf(path, [['general.architecture', { type: 'string', value: 'llama' }]], [
    { name: 'token_embd.weight', dtype: 'f32', shape: [4, 8], data: new Uint8Array(4 * 8 * 4) },
  ]);
  assertUserError(await run(path), /architecture "llama" is not a Nemotron hybrid/, { code: 'UNSUPPORTED' });
});

test('inspect on a random text file', async () => {
  const path = join(tmp.dir('txt'), 'notes.txt');
  writeFileSync(path, 'just some notes, not a model\n');
  assertUserError(await cliAsync(['inspect', path]), /notes\.txt is not a GGUF file/, { code: 'BAD_CHECKPOINT' });
});

// ── config.json ────────────────────────────────────────────────────────────────────────────────────────────────────

test('unknown architecture (model_type "llama")', async () => {
  assertUserError(await run(broken((d) => editConfig(d, { model_type: 'llama' }))), /"model_type" is "llama"/, { code: 'UNSUPPORTED' });
});

test('unknown layer kind in hybrid_override_pattern', async () => {
  const r = await run(broken((d) => editConfig(d, { hybrid_override_pattern: 'M*X-' })));
  assertUserError(r, /unknown layer kind "X".*supported: M, \*, -, E/, { code: 'BAD_CONFIG' });
});

test('unsupported value (mlp_hidden_act "gelu")', async () => {
  assertUserError(await run(broken((d) => editConfig(d, { mlp_hidden_act: 'gelu' }))), /"mlp_hidden_act" is "gelu".*relu2/, { code: 'BAD_CONFIG' });
});

test('config.json that is not JSON', async () => {
  const r = await run(broken((d) => writeFileSync(join(d, 'config.json'), '{ "hidden_size": ')));
  assertUserError(r, /config\.json is not valid JSON/, { code: 'BAD_CONFIG' });
});

test('missing config.json', async () => {
  assertUserError(await run(broken((d) => rmSync(join(d, 'config.json')))), /config\.json does not exist/, { code: 'NOT_FOUND' });
});

// ── tokenizer ─────────────────────────────────────────────────────────────────────────────────────────────────────

test('missing tokenizer.json: run fails, logprobs --tokens still works', async () => {
  const dir = broken((d) => rmSync(join(d, 'tokenizer.json')));
  const [r, lp] = await Promise.all([run(dir), logprobs(dir, '1 5 9')]);
  assertUserError(r!, /no tokenizer\.json in .*point --model at a directory that has tokenizer\.json/, { code: 'NOT_FOUND' });
  assertOk(lp!);
  assert.equal((JSON.parse(lp!.stdout) as { logprobs: number[][] }).logprobs.length, 3);
});

test('tokenizer.json that is not JSON', async () => {
  const r = await run(broken((d) => writeFileSync(join(d, 'tokenizer.json'), '{bad')));
  assertUserError(r, /tokenizer\.json is not valid JSON/, { code: 'BAD_TOKENIZER' });
});

// ── requests ──────────────────────────────────────────────────────────────────────────────────────────────────────

test('empty prompt', async () => {
  assertUserError(await cliAsync(['run', '--model', broken(), '--prompt', '']), /prompt is empty/, { code: 'BAD_INPUT' });
});

test('prompt longer than the model context', async () => {
  const dir = broken((d) => editConfig(d, { max_position_embeddings: 8 }));
  const r = await cliAsync(['run', '--model', dir, '--prompt', 'a prompt that is certainly longer than eight tokens of context']);
  assertUserError(r, /prompt of \d+ tokens exceeds the model's context of 8 tokens/, { code: 'BAD_INPUT' });
});

test('token id out of range in logprobs', async () => {
  const dir = broken();
  const v = vocabOf(dir);
  assertUserError(await logprobs(dir, `1 5 ${v}`), new RegExp(`token id ${v} is outside the vocabulary \\[0, ${v}\\)`), { code: 'BAD_INPUT' });
});

test('non-numeric and empty --tokens', async () => {
  const dir = broken();
  const [a, e] = await Promise.all([logprobs(dir, '1 a 3'), logprobs(dir, ' ')]);
  assertUserError(a!, /--tokens: "a" is not a token id/, { code: 'BAD_INPUT' });
  assertUserError(e!, /--tokens is empty/, { code: 'BAD_INPUT' });
});

test('--max-tokens -1 and abc', async () => {
  const dir = broken();
  const rs = await Promise.all([run(dir, '--max-tokens', '-1'), run(dir, '--max-tokens', 'abc')]);
  rs.forEach((r, i) => assertUserError(r, new RegExp(`--max-tokens must be an integer ≥ 0, got "${['-1', 'abc'][i]}"`), { code: 'BAD_ARGUMENT' }));
});

test('--temperature -1 and --top-p 0', async () => {
  const dir = broken();
  const [t, p] = await Promise.all([run(dir, '--temperature', '-1'), run(dir, '--top-p', '0')]);
  assertUserError(t!, /temperature\b.*-1/, { code: 'BAD_ARGUMENT' });
  assertUserError(p!, /(topP|top-p)\b.*\b0\b/, { code: 'BAD_ARGUMENT' });
});

test('unknown option --frobnicate', async () => {
  assertUserError(await run(broken(), '--frobnicate'), /unknown option '--frobnicate'/, { commander: true });
});

test('missing --prompt', async () => {
  assertUserError(await cliAsync(['run', '--model', broken()]), /required option '--prompt <text>' not specified/, { commander: true });
});

test('model path that does not exist', async () => {
  const r = await run(join(tmp.dir('void'), 'no-such-model'));
  assertUserError(r, /model path .*no-such-model does not exist/, { code: 'NOT_FOUND' });
});

test('logprobs --out into a missing folder or onto a directory', async () => {
  const dir = broken();
  const out = tmp.dir('out');
  const [missing, isDir] = await Promise.all([logprobs(dir, '1 2', '--out', join(out, 'nope', 'x.json')), logprobs(dir, '1 2', '--out', out)]);
  assertUserError(missing!, /--out .*folder .*nope does not exist; create it first/, { code: 'BAD_ARGUMENT' });
  assertUserError(isDir!, /--out .* is a directory; give a file path/, { code: 'BAD_ARGUMENT' });
});

test('filesystem errors are one line too: make-tiny --out below a file', async () => {
  const file = join(tmp.dir('fs'), 'plain.txt');
  writeFileSync(file, 'x');
  const r = await cliAsync(['make-tiny', '--out', join(file, 'sub')]);
  assertUserError(r, /cannot mkdir .*plain\.txt\/sub \(ENOTDIR\); check the path/);
});

// ── nothing lost ──────────────────────────────────────────────────────────────────────────────────────────────────

const snapshot = (dir: string): string[] => readdirSync(dir).sort().map((f) => `${f}:${readFileSync(join(dir, f)).toString('base64')}`);

test('nothing lost: a failed make-tiny leaves an existing directory as it was', async () => {
  const dir = tmp.dir('keep');
  writeFileSync(join(dir, 'notes.txt'), 'mine\n');
  const before = snapshot(dir);
  assertUserError(await cliAsync(['make-tiny', '--out', dir, '--pattern', 'MQ']), /--pattern "MQ" may only contain/, { code: 'BAD_ARGUMENT' });
  assert.deepEqual(snapshot(dir), before);
  assertOk(await cliAsync(['make-tiny', '--out', dir])); // success writes its files beside the user's, deleting nothing
  assert.equal(readFileSync(join(dir, 'notes.txt'), 'utf8'), 'mine\n');
});

test('nothing lost: make-tiny refuses to overwrite a model, and --out that is a file', async () => {
  const dir = broken();
  const before = snapshot(dir);
  const file = join(dir, 'config.json');
  const [over, onFile] = await Promise.all([cliAsync(['make-tiny', '--out', dir]), cliAsync(['make-tiny', '--out', file])]);
  assertUserError(over!, /already holds config\.json.*never overwrites/, { code: 'BAD_ARGUMENT' });
  assertUserError(onFile!, /--out .*config\.json is a file, not a directory/, { code: 'BAD_ARGUMENT' });
  assert.deepEqual(snapshot(dir), before);
});

test('nothing lost: a failed logprobs keeps an existing --out file', async () => {
  const dir = broken();
  const out = join(tmp.dir('old'), 'old.json');
  writeFileSync(out, '{"old":true}\n');
  assertUserError(await logprobs(dir, `1 ${vocabOf(dir) + 7}`, '--out', out), /outside the vocabulary/, { code: 'BAD_INPUT' });
  assert.equal(readFileSync(out, 'utf8'), '{"old":true}\n');
});

// ── quantize ───────────────────────────────────────────────────────────────────────────────────────────────────────

test('quantize: unknown format, existing --out, ggml format without .gguf, fp8 from a GGUF source', async () => {
  const dense = fixtureCopy('dense', tmp.dir('q'));
  const q = (...a: string[]): Promise<CliResult> => cliAsync(['quantize', '--model', dense, ...a]);
  assertUserError(await q('--format', 'int3', '--out', join(tmp.dir('q1'), 'x')), /--format "int3" is not supported; use one of fp8, nvfp4/, { code: 'BAD_ARGUMENT' });
  assertUserError(await q('--format', 'fp8', '--out', dense), /already exists; quantize never overwrites/, { code: 'BAD_ARGUMENT' });
  assertUserError(await q('--format', 'q4_k', '--out', join(tmp.dir('q2'), 'model.bin')), /writes a GGUF file: give --out a path ending in \.gguf/, { code: 'BAD_ARGUMENT' });
  const fromGguf = await cliAsync(['quantize', '--model', gg(dense), '--format', 'fp8', '--out', join(tmp.dir('q3'), 'o')]);
  assertUserError(fromGguf, /needs an HF source directory/, { code: 'BAD_ARGUMENT' });
});
