#!/usr/bin/env -S node --no-liftoff --experimental-wasm-relaxed-simd
/** The `tandem` command line: thin commands over library calls. User errors print one line and exit 1. */
import { Command, Option } from 'commander';
import { isTandemError } from '../errors.js';
import { addBackendOptions } from './backend-flags.js';
import { registerBenchModel } from './bench-model.js';
import { registerBenchServe } from './bench-serve.js';
import { evalQuantCommand, type EvalQuantFlags } from './eval-quant.js';
import { formatInspect, inspectModel } from './inspect.js';
import { logprobsCommand } from './logprobs.js';
import { makeTinyCommand } from './make-tiny.js';
import { registerMakeSynthetic } from './make-synthetic.js';
import { collect, intOption, numberOption } from './options.js';
import { runCommand, type RunFlags } from './run.js';
import { registerServe } from './serve.js';
import { registerWorker } from './worker.js';
import { quantizeCommand, type QuantizeFlags } from './quantize.js';
import { DEFAULT_KEEP, GGUF_FORMATS, HF_FORMATS } from '../engine/quantize.js';

function program(): Command {
  const p = new Command('tandem')
    .description('Nemotron hybrid (Mamba-2 + attention + MoE) models in TypeScript')
    .version('0.1.0')
    .showSuggestionAfterError(true)
    .enablePositionalOptions(); // `bench [model] --json` and `bench serve --json` each keep their own flags

  const run = p.command('run')
    .description('generate text from a prompt (streams; prints prefill/decode tokens/s)')
    .option('--model <path>', 'HF model directory or .gguf file (default: the embedded tiny model)')
    .requiredOption('--prompt <text>', 'the prompt')
    .option('--chat', 'wrap the prompt in the model\'s chat template')
    .option('--system <text>', 'system message (with --chat)')
    .option('--max-tokens <n>', 'maximum tokens to generate', intOption('--max-tokens', 0), 64)
    .option('--temperature <t>', '0 = greedy', numberOption('--temperature'))
    .option('--top-k <k>', '0 = off', intOption('--top-k', 0))
    .option('--top-p <p>', '1 = off', numberOption('--top-p'))
    .option('--min-p <p>', '0 = off', numberOption('--min-p'))
    .option('--repetition-penalty <r>', '1 = off', numberOption('--repetition-penalty'))
    .option('--seed <n>', 'random seed (same seed, same output)', intOption('--seed', 0))
    .option('--stop <text>', 'stop string (repeatable)', collect)
    .option('--prefill-chunk <n>', 'prompt tokens per forward pass', intOption('--prefill-chunk', 1), 256)
    .addOption(new Option('--kv-cache <type>', 'attention KV cache storage').choices(['f32', 'fp8']).default('f32'))
    .addOption(new Option('--ssm-state <type>', 'Mamba SSM state storage').choices(['f32', 'bf16']).default('f32'))
    .option('--emulate-activations', 'quantize matmul inputs like the real low-precision kernels (W8A8/W4A4, ggml Q8; default for GGUF)')
    .option('--no-emulate-activations', 'weight-only arithmetic for GGUF too (f32 inputs to every matmul)');
  addBackendOptions(run).action((f: RunFlags) => runCommand(f));

  const logprobs = p.command('logprobs')
    .description('write {"tokens":[...],"logprobs":[[...],...]}: full-vocabulary log-softmax at every position')
    .option('--model <path>', 'HF model directory or .gguf file (default: the embedded tiny model)')
    .requiredOption('--tokens <ids>', 'token ids, e.g. "1 42 7"')
    .option('--out <file>', 'write JSON here instead of stdout');
  addBackendOptions(logprobs).action(logprobsCommand);

  p.command('inspect')
    .description('architecture, layer schedule, parameters, bytes per format, state bytes per token and sequence')
    .argument('<path>', 'HF model directory or .gguf file')
    .option('--json', 'print JSON')
    .action((path: string, f: { json?: boolean }) => {
      const r = inspectModel(path);
      process.stdout.write((f.json ? JSON.stringify(r, (_k, v: unknown) => (v === Infinity ? 'inf' : v), 2) : formatInspect(r)) + '\n');
    });

  p.command('eval-quant')
    .description('compare a candidate (e.g. quantized) model with a reference on a text: KL, same-top, PPL, Δp, bytes, bits/weight, state')
    .requiredOption('--reference <path>', 'reference model: HF directory or .gguf file (its tokenizer is used)')
    .requiredOption('--candidate <path>', 'candidate model: HF directory or .gguf file (same vocabulary)')
    .requiredOption('--text <file>', 'UTF-8 text to score')
    .option('--json', 'print JSON {reference, candidate, metrics}')
    .option('--ctx <n>', 'tokens per chunk; each chunk is a fresh sequence and its second half is scored', intOption('--ctx', 4), 256)
    .option('--max-tokens <n>', 'cap on the text tokens used (whole chunks)', intOption('--max-tokens', 1), 2048)
    .addOption(new Option('--kv-cache <format>', 'candidate\'s attention KV cache storage').choices(['f32', 'fp8']).default('f32'))
    .addOption(new Option('--ssm-state <format>', 'candidate\'s Mamba SSM state storage').choices(['f32', 'bf16']).default('f32'))
    .option('--emulate-activations', 'candidate: emulate the activation quantization of FP8/NVFP4 kernels')
    .action((f: EvalQuantFlags) => evalQuantCommand(f));

  p.command('make-tiny')
    .description('write a deterministic tiny random Nemotron-H checkpoint (HF directory + model.gguf)')
    .requiredOption('--out <dir>', 'output directory')
    .option('--pattern <layers>', 'layer schedule over M * - E (default M*-M, or ME*EME with --moe)')
    .option('--moe', 'mixture-of-experts model (nemotron_h_moe)')
    .option('--seed <n>', 'random seed', intOption('--seed', 0), 0)
    .option('--context <n>', 'max_position_embeddings (context length)', intOption('--context', 16), 2048)
    .addOption(new Option('--dtype <type>', 'storage of matrices').choices(['f32', 'f16', 'bf16']).default('f32'))
    .action(makeTinyCommand);
  registerMakeSynthetic(p);
  p.command('quantize')
    .description('rewrite a model in fp8 / nvfp4 (HF directory, ModelOpt layout) or a ggml type (GGUF file)')
    .requiredOption('--model <path>', 'source model: HF directory (any format) or .gguf (for ggml targets)')
    .requiredOption('--format <format>', `${[...HF_FORMATS, ...GGUF_FORMATS].join(' | ')}`)
    .requiredOption('--out <path>', 'output: a new directory (fp8, nvfp4) or a new .gguf file (ggml types)')
    .option('--keep <pattern>', `HF module glob kept in source precision (repeatable; replaces the defaults ${DEFAULT_KEEP.join(', ')}; "none" = quantize all)`, collect)
    .option('--calib <file>', 'text for the activation calibration of fp8/nvfp4 input scales (default: a built-in paragraph)')
    .option('--calib-tokens <n>', 'calibration tokens', intOption('--calib-tokens', 1), 256)
    .action((f: QuantizeFlags) => quantizeCommand(f));
  registerBenchModel(p);
  registerBenchServe(p);
  registerWorker(p);
  registerServe(p);
  return p;
}

/** A filesystem error (ENOENT, EACCES, EISDIR, ENOSPC, …) is the user's environment, not a bug: one line, no stack. */
function fsError(e: unknown): string | undefined {
  if (!(e instanceof Error) || !('syscall' in e) || typeof (e as NodeJS.ErrnoException).code !== 'string') return undefined;
  const { code, syscall, path } = e as NodeJS.ErrnoException;
  return `error[${code === 'ENOENT' ? 'NOT_FOUND' : 'BAD_ARGUMENT'}]: cannot ${syscall}${path ? ` ${path}` : ''} (${code}); check the path, its permissions and free disk space`;
}

try {
  await program().parseAsync(process.argv);
} catch (e) {
  const line = isTandemError(e) ? `error[${e.code}]: ${e.message}` : fsError(e);
  if (line === undefined) throw e;
  process.stderr.write(line.replace(/\s*\n\s*/g, ' ') + '\n');
  process.exit(1);
}
