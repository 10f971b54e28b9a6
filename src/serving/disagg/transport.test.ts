/** The framed wire and the transfer envelope, without worker processes. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadModel } from '../../engine/load-model.js';
import { forward, newState } from '../../model/nemotron-h.js';
import { goldenDir } from '../../testing/golden.js';
import { decodeTransfer, encodeTransfer, LeaseStore, pullTransfer, servePull } from './transfer.js';
import { connect, encodeControl, encodeFrame, FrameDecoder, FrameError, FrameType, listen, parseAddress, type Frame } from './transport.js';

const stream = Buffer.concat([
  encodeControl({ t: 'hello', n: 1, s: 'ü' }),
  encodeFrame(FrameType.DATA, new Uint8Array([1, 2, 3, 4, 5])),
  encodeFrame(FrameType.DATA, new Uint8Array(0)),
  encodeFrame(FrameType.DATA_END),
  encodeControl({ t: 'bye' }),
]);

const describeFrames = (fs: Frame[]): unknown[] => fs.map((f) => (f.type === FrameType.CONTROL ? f.msg : f.type === FrameType.DATA ? [...f.bytes] : 'end'));

test('the decoder gives the same frames for any split of the byte stream', () => {
  const whole = describeFrames(new FrameDecoder().push(stream));
  assert.deepEqual(whole, [{ t: 'hello', n: 1, s: 'ü' }, [1, 2, 3, 4, 5], [], 'end', { t: 'bye' }]);
  for (let cut = 1; cut < stream.length; cut++) {
    const d = new FrameDecoder();
    const got = [...d.push(stream.subarray(0, cut)), ...d.push(stream.subarray(cut))];
    assert.deepEqual(describeFrames(got), whole, `split at ${cut}`);
    assert.equal(d.pending, 0);
  }
  const d = new FrameDecoder();
  const bytewise = [...stream].flatMap((b) => d.push(Buffer.from([b])));
  assert.deepEqual(describeFrames(bytewise), whole);
});

test('malformed frames are refused with a FrameError', () => {
  const bad = (b: Buffer, re: RegExp): void => assert.throws(() => new FrameDecoder(64).push(b), (e: unknown) => e instanceof FrameError && re.test(e.message));
  bad(encodeFrame(FrameType.DATA, new Uint8Array(65)).subarray(0, 5), /exceeds the limit of 64/);
  bad(Buffer.from([0, 0, 0, 0, 0x7f]), /unknown frame type 0x7f/);
  bad(encodeFrame(FrameType.CONTROL, Buffer.from('{nope')), /not valid JSON/);
  bad(encodeFrame(FrameType.CONTROL, Buffer.from('[1]')), /string "t"/);
  bad(encodeFrame(FrameType.DATA_END, new Uint8Array(1)), /DATA_END frame with a payload/);
});

test('addresses: host:port, [v6]:port, unix socket paths', () => {
  assert.deepEqual(parseAddress('127.0.0.1:8080'), { host: '127.0.0.1', port: 8080 });
  assert.deepEqual(parseAddress('[::1]:9'), { host: '::1', port: 9 });
  assert.deepEqual(parseAddress(':0'), { host: '127.0.0.1', port: 0 });
  assert.deepEqual(parseAddress('/tmp/tandem.sock'), { path: '/tmp/tandem.sock' });
  assert.throws(() => parseAddress('h:99999'), /out of range/);
});

test('a state envelope round-trips over a pull connection; a flipped byte fails the checksum', async () => {
  const { model } = loadModel(join(goldenDir(), 'dense'));
  const state = newState(model);
  const logits = forward(model, state, [5, 9, 14, 33, 2, 7]);
  const blob = encodeTransfer(model.config, { state, logits });
  const back = decodeTransfer(model.config, model.fingerprint, blob);
  assert.deepEqual(back.state.tokens, state.tokens);
  assert.deepEqual(back.logits, logits);

  const leases = new LeaseStore(30_000);
  const { server, address } = await listen('127.0.0.1:0', (c) => {
    c.handlers = { onMessage: (m) => void servePull(c, String(m.transferId), leases, true) };
  });
  try {
    const big = new Uint8Array(700_000).map((_, i) => i % 251); // spans several 256 KiB DATA frames
    const id = leases.put('job-1', 'plain', big);
    const signal = new AbortController().signal;
    assert.deepEqual(await pullTransfer({ address, transferId: id, bytes: big.length }, { signal, idleMs: 5000 }), big);
    assert.equal(leases.size, 0);
    await assert.rejects(pullTransfer({ address, transferId: id, bytes: big.length }, { signal, idleMs: 5000 }), /already pulled/);

    const flipped = await pullTransfer({ address, transferId: leases.put('job-2', 'fault:flip', blob), bytes: blob.length }, { signal, idleMs: 5000 });
    assert.throws(() => decodeTransfer(model.config, model.fingerprint, flipped), /checksum mismatch/);
    assert.deepEqual(leases.ended, { pulled: 2, cancelled: 0, expired: 0 });
    leases.put('job-3', 'x', blob);
    assert.equal(leases.release((o) => o === 'job-3'), 1);
    assert.equal(leases.size, 0);
  } finally {
    server.close();
  }
});

test('a peer that sends garbage is disconnected', async () => {
  let closed: string | undefined;
  const { server, address } = await listen('127.0.0.1:0', (c) => {
    c.handlers = { onClose: (why) => (closed = why) };
  });
  try {
    const c = await connect(address);
    const gone = new Promise<void>((r) => (c.handlers = { onClose: () => r() }));
    c.socket.write(Buffer.from([0, 0, 0, 0, 0x42]));
    await gone;
    assert.match(closed ?? '', /unknown frame type 0x42/);
  } finally {
    server.close();
  }
});
