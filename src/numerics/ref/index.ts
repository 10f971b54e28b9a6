/**
 * The `ref` backend: plain TypeScript loops, one op per file, storage in f32 and accumulation in JS numbers (f64).
 * It is the oracle for every fast backend and the slow fallback that always works.
 */
import type { Backend } from '../backend.js';
import { matmulRef, embedRef } from './matmul.js';
import { rmsNormRef, siluGateRef, relu2Ref, addScaledRef } from './norm.js';
import { conv1dRef } from './conv1d.js';
import { ssmScanRef } from './ssm-scan.js';
import { ssdChunkScanRef } from './ssd-chunk-scan.js';
import { attentionRef } from './attention.js';
import { routeRef } from './route.js';

export const refBackend: Backend = {
  name: 'ref',
  matmul: matmulRef,
  embed: embedRef,
  rmsNorm: rmsNormRef,
  siluGate: siluGateRef,
  relu2: relu2Ref,
  addScaled: addScaledRef,
  conv1d: conv1dRef,
  ssmScan: ssmScanRef,
  ssdChunkScan: ssdChunkScanRef,
  attention: attentionRef,
  route: routeRef,
};
