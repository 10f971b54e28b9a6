import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_CHATML_TEMPLATE, renderChat, type ChatMessage } from './chat-template.js';
import { makeTinyTokenizer } from './tiny-tokenizer.js';
import { tokenizerFromJson } from './tokenizer.js';
import { errorOf } from '../testing/error-of.js';

const MESSAGES: ChatMessage[] = [
  { role: 'system', content: 'Be brief.' },
  { role: 'user', content: 'Hi' },
];


test('the default ChatML template renders Nemotron-3 style turns', () => {
  const withPrompt = renderChat(DEFAULT_CHATML_TEMPLATE, MESSAGES, { addGenerationPrompt: true });
  assert.equal(
    withPrompt,
    '<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n',
  );
  const without = renderChat(DEFAULT_CHATML_TEMPLATE, MESSAGES, { addGenerationPrompt: false });
  assert.equal(without, '<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n'); // SERVE.1
});

test('the rendered prompt tokenizes to the ChatML special ids', () => {
  const { tokenizerJson, tokenizerConfig } = makeTinyTokenizer();
  const tok = tokenizerFromJson(tokenizerJson, tokenizerConfig);
  const ids = tok.encode(
    renderChat(tok.chatTemplate ?? '', [{ role: 'user', content: 'Hi' }], { addGenerationPrompt: true }),
  );
  assert.deepEqual(ids.slice(0, 2), [1, 3]);
  assert.equal(ids.filter((id) => id === 3).length, 2);
  assert.equal(ids.filter((id) => id === 4).length, 1); // SERVE.1
});

test('bos/eos tokens, tools and extra variables reach the template', () => {
  const template =
    '{{ bos_token }}{% if tools %}[{{ tools | length }} tools]{% endif %}' +
    '{% for m in messages %}{{ m.role }}:{{ m.content }}{{ eos_token }}{% endfor %}' +
    '{% if enable_thinking is defined and not enable_thinking %}/no_think{% endif %}';
  const out = renderChat(template, MESSAGES, {
    addGenerationPrompt: false,
    bosToken: '<s>',
    eosToken: '</s>',
    tools: [{ type: 'function', function: { name: 'f' } }],
    extra: { enable_thinking: false, messages: 'ignored: named fields win' },
  });
  assert.equal(out, '<s>[1 tools]system:Be brief.</s>user:Hi</s>/no_think');
  const noTools = renderChat('{% if tools is defined %}T{% else %}none{% endif %}', [], { addGenerationPrompt: false });
  assert.equal(noTools, 'none'); // SERVE.1
});

test('syntax and render errors are BAD_TOKENIZER on one line', () => {
  const syntax = errorOf(() => renderChat('{% for m in messages %}', MESSAGES, { addGenerationPrompt: false }));
  assert.match(syntax, /^BAD_TOKENIZER: chat template in tokenizer_config\.json failed to render: \S/);
  const raised = errorOf(() =>
    renderChat("{{ raise_exception('roles must alternate') }}", MESSAGES, { addGenerationPrompt: false }),
  );
  assert.match(
    raised,
    /^BAD_TOKENIZER: chat template in tokenizer_config\.json failed to render: .*roles must alternate/,
  );
  assert.ok(!raised.includes('\n')); // SERVE.1
});
