/**
 * Chat messages → prompt text through the model's Jinja chat template (`chat_template` in
 * tokenizer_config.json, or `tokenizer.chat_template` in a GGUF), rendered with @huggingface/jinja, which
 * follows transformers' settings (trim_blocks, lstrip_blocks, `raise_exception`, `strftime_now`).
 *
 * A model without a chat template that is asked for chat is the caller's error to report; generated test
 * models ship `DEFAULT_CHATML_TEMPLATE`.
 */
import { Template } from '@huggingface/jinja';
import { TandemError } from '../errors.js';

export type ChatRole = 'system' | 'user' | 'assistant' | 'tool';

export interface ChatMessage {
  role: ChatRole;
  content: string;
  /** Assistant turns that called tools: `{ id, type: 'function', function: { name, arguments } }`, as templates expect. */
  tool_calls?: readonly unknown[];
  /** Tool turns: the id of the call this answers. */
  tool_call_id?: string;
  name?: string;
}

export interface RenderChatOptions {
  /** Append the header that opens the assistant's turn. */
  addGenerationPrompt: boolean;
  bosToken?: string;
  eosToken?: string;
  /** Tool definitions, passed to the template as `tools` (absent when undefined). */
  tools?: unknown[];
  /** Extra template variables, e.g. `{ enable_thinking: false }`; the named fields above take precedence. */
  extra?: Record<string, unknown>;
}

/**
 * Nemotron-3 style ChatML: `<|im_start|>role\n…<|im_end|>\n` per message; the generation prompt is
 * `<|im_start|>assistant\n`. (Nemotron-3's own template also opens a `<think>` block; this one does not.)
 */
export const DEFAULT_CHATML_TEMPLATE =
  '{%- for message in messages -%}\n' +
  "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' -}}\n" +
  '{%- endfor -%}\n' +
  '{%- if add_generation_prompt -%}\n' +
  "{{- '<|im_start|>assistant\\n' -}}\n" +
  '{%- endif -%}\n';

export function renderChat(template: string, messages: readonly ChatMessage[], opts: RenderChatOptions): string {
  let parsed: Template;
  try {
    parsed = new Template(template);
  } catch (e) {
    throw renderError(e);
  }
  const context: Record<string, unknown> = {
    ...opts.extra,
    messages: messages.map(templateMessage),
    add_generation_prompt: opts.addGenerationPrompt,
    bos_token: opts.bosToken ?? '',
    eos_token: opts.eosToken ?? '',
  };
  if (opts.tools !== undefined) context['tools'] = opts.tools;
  try {
    return parsed.render(context);
  } catch (e) {
    throw renderError(e);
  }
}

/** Only the fields a message has: templates test `message.tool_calls is defined`. */
function templateMessage(m: ChatMessage): Record<string, unknown> {
  const out: Record<string, unknown> = { role: m.role, content: m.content };
  if (m.tool_calls !== undefined) out['tool_calls'] = m.tool_calls;
  if (m.tool_call_id !== undefined) out['tool_call_id'] = m.tool_call_id;
  if (m.name !== undefined) out['name'] = m.name;
  return out;
}

function renderError(e: unknown): TandemError {
  const why = (e instanceof Error ? e.message : String(e)).replace(/\s+/g, ' ').trim();
  return new TandemError('BAD_TOKENIZER', `chat template in tokenizer_config.json failed to render: ${why}`);
}
