/**
 * Prompt text → token ids, the one way shared by `tandem run` and the server (SERVE.1): a raw prompt is encoded
 * with the tokenizer's special tokens (BOS when the model adds one); a chat is rendered through the model's chat
 * template (ChatML when it has none) and encoded without adding special tokens, since the template wrote them.
 */
import { DEFAULT_CHATML_TEMPLATE, renderChat, type ChatMessage } from './chat-template.js';
import type { TextTokenizer } from './tokenizer.js';

export interface ChatPromptOptions {
  /** Tool definitions for the template (`tools`). */
  readonly tools?: unknown[];
  /** Extra template variables (e.g. `enable_thinking`). */
  readonly extra?: Record<string, unknown>;
}

export function completionPromptIds(tok: TextTokenizer, prompt: string): number[] {
  return tok.encode(prompt);
}

export function chatPromptText(tok: TextTokenizer, messages: readonly ChatMessage[], opts: ChatPromptOptions = {}): string {
  const template = tok.chatTemplate ?? DEFAULT_CHATML_TEMPLATE;
  const special = (id: number | undefined): string | undefined => (id === undefined ? undefined : tok.tokenText(id));
  return renderChat(template, messages, {
    addGenerationPrompt: true,
    bosToken: special(tok.bosId),
    eosToken: special(tok.eosIds[0]),
    ...(opts.tools !== undefined ? { tools: opts.tools } : {}),
    ...(opts.extra !== undefined ? { extra: opts.extra } : {}),
  });
}

export function chatPromptIds(tok: TextTokenizer, messages: readonly ChatMessage[], opts: ChatPromptOptions = {}): number[] {
  return tok.encode(chatPromptText(tok, messages, opts), { addSpecial: false });
}
