/**
 * Conformance cases of the Mamba-2 mixer's recurrent ops: causal conv1d over T rows and its one-row state update, the
 * sequential scan at T = 1 (decode) and T > 1, and the chunked SSD scan against both the oracle's chunked scan and
 * the oracle's sequential recurrence (they differ only in summation order). Every case starts from a non-zero state,
 * as a decode step or a later prefill chunk does, and compares the final state too.
 */
import type { Backend, ScanArgs } from '../backend.js';
import { Draw, guarded, offsetView } from './inputs.js';
import { toleranceFor, EXACT, type ConformanceCase, type Output } from './compare.js';

interface ConvShape {
  readonly T: number;
  readonly channels: number;
  readonly kernel: number;
}

interface ConvInputs {
  readonly x: Float32Array; // [T, Cd]
  readonly weight: Float32Array; // [Cd, K]
  readonly bias: Float32Array; // [Cd]
  readonly state0: Float32Array; // [K−1, Cd], copied per run
}

function convInputs(s: ConvShape, seed: number): ConvInputs {
  const { T, channels: Cd, kernel: K } = s;
  const d = new Draw(seed);
  return {
    x: offsetView(d.normals(T * Cd), 1), // xBC comes out of the in_proj output as an offset slice
    weight: d.normals(Cd * K, 0.4), bias: d.normals(Cd, 0.1), state0: d.normals((K - 1) * Cd),
  };
}

const convReadOnly = (i: ConvInputs): ConformanceCase['readOnly'] => [{ name: 'x', data: i.x }, { name: 'weight', data: i.weight }, { name: 'bias', data: i.bias }];

function conv1dCase(s: ConvShape, seed: number): ConformanceCase {
  const { T, channels: Cd, kernel: K } = s;
  const i = convInputs(s, seed);
  return {
    name: `conv1d/K${K}/C${Cd}/T${T}`, op: 'conv1d', format: 'f32', tolerance: toleranceFor('conv1d', 'f32'), readOnly: convReadOnly(i),
    run: (be) => {
      const out = guarded(T * Cd);
      const state = i.state0.slice();
      be.conv1d({ T, channels: Cd, kernel: K, x: i.x, weight: i.weight, bias: i.bias, state, out: out.view });
      return [{ name: 'out', data: out.view }, { name: 'state', data: state }, { name: 'out guards', data: out.guards(), tolerance: EXACT }];
    },
  };
}

/** T one-row updates on the backend must equal one T-row conv on the oracle (decode ≡ prefill), outputs and state. */
function conv1dStepsCase(seed: number): ConformanceCase {
  const s: ConvShape = { T: 5, channels: 37, kernel: 4 };
  const { T, channels: Cd, kernel: K } = s;
  const { x, weight, bias, state0 } = convInputs(s, seed);
  const prefill = (be: Backend): Output[] => {
    const out = new Float32Array(T * Cd), state = state0.slice();
    be.conv1d({ T, channels: Cd, kernel: K, x, weight, bias, state, out });
    return [{ name: 'out', data: out }, { name: 'state', data: state }];
  };
  const steps = (be: Backend): Output[] => {
    const out = new Float32Array(T * Cd), state = state0.slice();
    for (let t = 0; t < T; t++) {
      be.conv1d({ T: 1, channels: Cd, kernel: K, x: x.subarray(t * Cd, (t + 1) * Cd), weight, bias, state, out: out.subarray(t * Cd, (t + 1) * Cd) });
    }
    return [{ name: 'out', data: out }, { name: 'state', data: state }];
  };
  return {
    name: `conv1d/K${K}/C${Cd}/${T}× T1 steps vs T${T}`, op: 'conv1d', format: 'f32', tolerance: toleranceFor('conv1d', 'f32'),
    readOnly: convReadOnly({ x, weight, bias, state0 }), run: steps, expect: prefill,
  };
}

interface ScanShape {
  readonly T: number;
  readonly nh: number;
  readonly P: number;
  readonly N: number;
  readonly G: number;
  readonly chunkSize: number;
  readonly dtLimit?: readonly [number, number];
}

/** Fresh scan arguments over shared read-only inputs; `state0` and `y` are copied per run. */
function scanInputs(s: ScanShape, seed: number): { args: () => ScanArgs; readOnly: ConformanceCase['readOnly'] } {
  const { T, nh, P, N, G } = s;
  const d = new Draw(seed);
  const x = d.normals(T * nh * P), B = d.normals(T * G * N), C = d.normals(T * G * N);
  const dt = d.normals(T * nh), dtBias = d.uniforms(nh, -3, -0.5);
  const A = Float32Array.from({ length: nh }, () => -d.uniform(1, 8)), D = d.uniforms(nh, 0.5, 1.5);
  const state0 = d.normals(nh * P * N, 0.5);
  const args = (): ScanArgs => ({
    T, numHeads: nh, headDim: P, stateSize: N, nGroups: G, x, B, C, dt, dtBias, dtLimit: s.dtLimit ?? [0, Infinity],
    A, D, state: state0.slice(), y: new Float32Array(T * nh * P), chunkSize: s.chunkSize,
  });
  const readOnly = Object.entries({ x, B, C, dt, dtBias, A, D }).map(([name, data]) => ({ name, data }));
  return { args, readOnly };
}

type ScanOp = 'ssmScan' | 'ssdChunkScan';

function runScan(be: Backend, op: ScanOp, a: ScanArgs): Output[] {
  const y = guarded(a.y.length);
  const args = { ...a, y: y.view };
  if (op === 'ssmScan') be.ssmScan(args);
  else be.ssdChunkScan(args);
  return [{ name: 'y', data: y.view }, { name: 'state', data: args.state }, { name: 'y guards', data: y.guards(), tolerance: EXACT }];
}

/** `op` on the backend against `oracleOp` on the oracle. */
function scanCase(op: ScanOp, oracleOp: ScanOp, s: ScanShape, seed: number): ConformanceCase {
  const { args, readOnly } = scanInputs(s, seed);
  const format = op === oracleOp ? 'f32' : `vs-${oracleOp}`;
  const limit = s.dtLimit ? `/dt∈[${s.dtLimit.join(',')}]` : '';
  const chunk = op === 'ssdChunkScan' ? `/Q${s.chunkSize}` : '';
  return {
    name: `${op}${op === oracleOp ? '' : ` vs ${oracleOp}`}/nh${s.nh}P${s.P}N${s.N}G${s.G}/T${s.T}${chunk}${limit}`,
    op, format, tolerance: toleranceFor(op, format), readOnly,
    run: (be) => runScan(be, op, args()),
    expect: (oracle) => runScan(oracle, oracleOp, args()),
  };
}

export function mambaCases(): ConformanceCase[] {
  const head = { nh: 6, P: 5, N: 7, G: 2 } as const; // 3 heads per B/C group
  return [
    conv1dCase({ T: 1, channels: 37, kernel: 4 }, 4001),
    conv1dCase({ T: 3, channels: 37, kernel: 4 }, 4002),
    conv1dCase({ T: 17, channels: 37, kernel: 4 }, 4003),
    conv1dCase({ T: 17, channels: 9, kernel: 2 }, 4004),
    conv1dStepsCase(4005),
    scanCase('ssmScan', 'ssmScan', { ...head, T: 1, chunkSize: 8 }, 4101),
    scanCase('ssmScan', 'ssmScan', { ...head, T: 3, chunkSize: 8 }, 4102),
    scanCase('ssmScan', 'ssmScan', { ...head, T: 17, chunkSize: 8 }, 4103),
    scanCase('ssmScan', 'ssmScan', { ...head, T: 17, chunkSize: 8, dtLimit: [0.05, 0.5] }, 4104),
    scanCase('ssmScan', 'ssmScan', { nh: 4, P: 16, N: 16, G: 1, T: 1, chunkSize: 8 }, 4105),
    scanCase('ssdChunkScan', 'ssdChunkScan', { ...head, T: 17, chunkSize: 8 }, 4201),
    scanCase('ssdChunkScan', 'ssdChunkScan', { ...head, T: 3, chunkSize: 16 }, 4202),
    scanCase('ssdChunkScan', 'ssmScan', { ...head, T: 17, chunkSize: 5 }, 4203),
    scanCase('ssdChunkScan', 'ssmScan', { ...head, T: 17, chunkSize: 16, dtLimit: [0.05, 0.5] }, 4204),
    scanCase('ssdChunkScan', 'ssmScan', { ...head, T: 1, chunkSize: 16 }, 4205),
  ];
}
