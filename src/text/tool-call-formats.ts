/**
 * The bodies of Nemotron's tool-call blocks → `{ name, arguments }` (arguments as a JSON string, as OpenAI sends
 * them). Spec nemotron-h.md §5.4:
 * - Nano-v2: `<TOOLCALL>[{"name": "f", "arguments": {...}}, ...]</TOOLCALL>` (one block, a JSON list);
 * - Nemotron 3: `<tool_call>…</tool_call>` per call, whose body is either the qwen3_coder XML form that Super's
 *   tokenizer config names (`<function=f>\n<parameter=p>\nvalue\n</parameter>\n</function>`) or a Hermes-style
 *   JSON object `{"name": "f", "arguments": {...}}`.
 * A body that does not parse gives `undefined`; the caller then passes the block through as text.
 */

export interface ParsedToolCall {
  readonly name: string;
  /** JSON text of the arguments object. */
  readonly arguments: string;
}

/** The tool-call blocks tandem recognizes, in the order their opening tags are searched. */
export const TOOL_CALL_BLOCKS: readonly { readonly open: string; readonly close: string; readonly parse: (body: string) => ParsedToolCall[] | undefined }[] = [
  { open: '<TOOLCALL>', close: '</TOOLCALL>', parse: parseNanoV2 },
  { open: '<tool_call>', close: '</tool_call>', parse: parseToolCallTag },
];

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** `{ name, arguments | parameters }` → a call; arguments may be an object or a JSON string. */
function callFromObject(v: unknown): ParsedToolCall | undefined {
  if (!isRecord(v) || typeof v['name'] !== 'string' || v['name'].length === 0) return undefined;
  const args = v['arguments'] ?? v['parameters'] ?? {};
  if (typeof args === 'string') return isRecord(parseJson(args)) ? { name: v['name'], arguments: args } : undefined;
  return isRecord(args) ? { name: v['name'], arguments: JSON.stringify(args) } : undefined;
}

export function parseNanoV2(body: string): ParsedToolCall[] | undefined {
  const v = parseJson(body.trim());
  const list = Array.isArray(v) ? v : [v];
  const calls = list.map(callFromObject);
  return calls.length > 0 && calls.every((c) => c !== undefined) ? (calls as ParsedToolCall[]) : undefined;
}

export function parseToolCallTag(body: string): ParsedToolCall[] | undefined {
  const t = body.trim();
  if (t.startsWith('{')) {
    const call = callFromObject(parseJson(t));
    return call === undefined ? undefined : [call];
  }
  const call = parseQwen3Coder(t);
  return call === undefined ? undefined : [call];
}

const FUNCTION = /^<function=([^>\s]+)>([\s\S]*?)<\/function>$/;
const PARAMETER = /<parameter=([^>\s]+)>\n?([\s\S]*?)\n?<\/parameter>/g;

/** qwen3_coder XML. Parameter values are JSON when they parse as JSON (numbers, booleans, objects), else strings. */
function parseQwen3Coder(t: string): ParsedToolCall | undefined {
  const m = FUNCTION.exec(t);
  if (m === null) return undefined;
  const args: Record<string, unknown> = {};
  for (const p of (m[2] ?? '').matchAll(PARAMETER)) {
    const raw = p[2] ?? '';
    const json = parseJson(raw);
    args[p[1] ?? ''] = json === undefined ? raw : json;
  }
  return { name: m[1] ?? '', arguments: JSON.stringify(args) };
}
