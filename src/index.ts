/** Tandem's public library API. */
export { TandemError, isTandemError, type ErrorCode } from './errors.js';
export { parseModelConfig, readModelConfig, layerPattern, type ModelConfig, type LayerKind } from './formats/config.js';
export { loadModel, type LoadedModel, type LoadOptions } from './engine/load-model.js';
export { generate, prefill, type GeneratePart, type GenerateOptions, type FinishReason } from './engine/generate.js';
export { sequenceLogprobs, logSoftmax } from './engine/logprobs.js';
export { forward, type Model, type ForwardOptions } from './model/nemotron-h.js';
export { createState, forkState, stateBytes, type SequenceState, type LayerState } from './model/state.js';
export { serializeState, deserializeState, STATE_FORMAT_VERSION } from './model/state-codec.js';
export { createSampler, validateSampling, DEFAULT_SAMPLING, type SamplingOptions } from './model/sample.js';
export type { Backend } from './numerics/backend.js';
export { refBackend } from './numerics/ref/index.js';
export { makeTiny, type TinyOptions } from './testing/tiny-model.js';
