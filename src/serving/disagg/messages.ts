/**
 * CONTROL messages of the disaggregation protocol (the JSON inside 0x01 frames; transport.ts has the framing).
 * Three channels, each its own connection:
 *
 *   registry  worker → frontend   register {worker} · heartbeat {snapshot}
 *             frontend → worker   registered · rejected {message} · deregistered {reason}
 *   job       frontend → worker   prefill {rid, req} · decode {rid, req, transfer?} · cancel {rid} · stats {qid}
 *                                 probe {rid, tokens}
 *             worker → frontend   prefilled {rid, transfer} · event {rid, event} · stats-reply {qid, snapshot}
 *                                 probe-reply {rid, cachedTokens}
 *
 * `probe` asks how many leading prompt tokens the worker's context cache would restore (index lookup only, no
 * state is read); a worker without a cache answers 0. The frontend routes on it (request.ts).
 *   pull      decode → prefill    pull {transferId}
 *             prefill → decode    transfer {bytes} + DATA… + DATA_END · pull-error {message}
 *
 * `rid` is the frontend's id for one dispatch (a retry gets a new one); `req.id` is the client's request id.
 * `transfer` is opaque to the frontend: it forwards what the prefill worker returned to the decode worker.
 */
import type { GenerationRequest, ServiceEvent, ServiceStats } from '../../engine/service.js';
import type { ControlMessage } from './transport.js';

export type Role = 'prefill' | 'decode';

export interface WorkerInfo {
  readonly id: string;
  readonly role: Role;
  /** Where the worker accepts job and pull connections ("host:port" or a unix socket path). */
  readonly address: string;
  /** Model fingerprint: every worker behind one frontend must serve the same model. */
  readonly fingerprint: string;
  readonly modelName: string;
  readonly maxContext: number;
  readonly pid: number;
}

/** What a worker reports about itself (heartbeats and stats replies). */
export interface WorkerSnapshot {
  readonly engine: ServiceStats;
  /** Serialized prefill states held for a decode worker to pull. */
  readonly leases: number;
  /** How past leases ended: pulled by a decode worker, freed by a cancel, or expired unpulled. */
  readonly leasesEnded: { readonly pulled: number; readonly cancelled: number; readonly expired: number };
  readonly served: { readonly prefill: number; readonly decodeRemote: number; readonly decodeLocal: number };
}

/** What a prefill worker hands back; only the decode worker reads it. */
export interface TransferMeta {
  readonly address: string;
  readonly transferId: string;
  readonly bytes: number;
}

export type WorkerMessage =
  | { readonly t: 'prefill'; readonly rid: string; readonly req: GenerationRequest }
  | { readonly t: 'decode'; readonly rid: string; readonly req: GenerationRequest; readonly transfer?: unknown }
  | { readonly t: 'cancel'; readonly rid: string }
  | { readonly t: 'stats'; readonly qid: number }
  | { readonly t: 'probe'; readonly rid: string; readonly tokens: readonly number[] }
  | { readonly t: 'pull'; readonly transferId: string };

export type FrontendMessage =
  | { readonly t: 'prefilled'; readonly rid: string; readonly transfer: unknown }
  | { readonly t: 'event'; readonly rid: string; readonly event: ServiceEvent }
  | { readonly t: 'stats-reply'; readonly qid: number; readonly snapshot: WorkerSnapshot }
  | { readonly t: 'probe-reply'; readonly rid: string; readonly cachedTokens: number };

const str = (m: ControlMessage, k: string): boolean => typeof m[k] === 'string';
const num = (m: ControlMessage, k: string): boolean => typeof m[k] === 'number';
const obj = (m: ControlMessage, k: string): boolean => typeof m[k] === 'object' && m[k] !== null;

/** Narrow a CONTROL message received by a worker; undefined when it is not one (the caller drops the connection). */
export function asWorkerMessage(m: ControlMessage): WorkerMessage | undefined {
  switch (m.t) {
    case 'prefill':
    case 'decode':
      return str(m, 'rid') && obj(m, 'req') ? (m as unknown as WorkerMessage) : undefined;
    case 'cancel':
      return str(m, 'rid') ? (m as unknown as WorkerMessage) : undefined;
    case 'stats':
      return num(m, 'qid') ? (m as unknown as WorkerMessage) : undefined;
    case 'probe':
      return str(m, 'rid') && Array.isArray(m['tokens']) ? (m as unknown as WorkerMessage) : undefined;
    case 'pull':
      return str(m, 'transferId') ? (m as unknown as WorkerMessage) : undefined;
    default:
      return undefined;
  }
}

/** Narrow a CONTROL message received by the frontend on a job connection. */
export function asFrontendMessage(m: ControlMessage): FrontendMessage | undefined {
  switch (m.t) {
    case 'prefilled':
      return str(m, 'rid') ? (m as unknown as FrontendMessage) : undefined;
    case 'event':
      return str(m, 'rid') && obj(m, 'event') ? (m as unknown as FrontendMessage) : undefined;
    case 'stats-reply':
      return num(m, 'qid') && obj(m, 'snapshot') ? (m as unknown as FrontendMessage) : undefined;
    case 'probe-reply':
      return str(m, 'rid') && num(m, 'cachedTokens') ? (m as unknown as FrontendMessage) : undefined;
    default:
      return undefined;
  }
}

export function asWorkerInfo(v: unknown): WorkerInfo | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const w = v as Record<string, unknown>;
  const ok = typeof w.id === 'string' && (w.role === 'prefill' || w.role === 'decode') && typeof w.address === 'string' &&
    typeof w.fingerprint === 'string' && typeof w.modelName === 'string' && typeof w.maxContext === 'number' && typeof w.pid === 'number';
  return ok ? (w as unknown as WorkerInfo) : undefined;
}

export function asTransferMeta(v: unknown): TransferMeta | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const t = v as Record<string, unknown>;
  const ok = typeof t.address === 'string' && typeof t.transferId === 'string' && typeof t.bytes === 'number' && Number.isSafeInteger(t.bytes) && t.bytes >= 0;
  return ok ? (t as unknown as TransferMeta) : undefined;
}

export function errorEvent(status: number, code: string, message: string): ServiceEvent {
  return { type: 'error', status, code, message };
}
