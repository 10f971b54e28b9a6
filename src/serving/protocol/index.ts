/** The OpenAI wire protocol tandem serves: request schemas (zod) and response types. */
export * from './common.js';
export * from './chat-completion-request.js';
export * from './completion-request.js';
export * from './chat-completion.js';
export * from './completion.js';
export * from './model-list.js';
