/** The context-cache flags shared by `tandem serve` and `tandem worker`, and what they build. */
import { Option, type Command } from 'commander';
import { ContextCache, SNAPSHOT_SPACING } from '../cache/context-cache.js';
import type { EvictionPolicy } from '../cache/eviction.js';
import { TandemError } from '../errors.js';
import type { WorkerCacheOptions } from '../serving/disagg/spawn.js';
import type { CacheModel } from '../cache/context-cache.js';

export interface CacheFlags {
  /** false with --no-cache. */
  readonly cache?: boolean;
  readonly cacheRam?: number;
  readonly cacheDisk?: { readonly dir: string; readonly bytes: number };
  readonly cacheSnapshotShare?: number;
  readonly cacheEviction?: EvictionPolicy;
}

export const DEFAULT_CACHE_RAM = 512 * 2 ** 20;

const UNITS: Record<string, number> = { '': 1, b: 1, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12, kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, tib: 2 ** 40 };

/** "512MiB", "2GB", "1048576" → bytes. */
export function parseSize(v: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(v);
  const unit = m ? UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) throw new TandemError('BAD_ARGUMENT', `a size must look like 512MiB, 2GB or a byte count, got "${v}"`);
  return Math.floor(Number(m[1]) * unit);
}

/** "DIR:SIZE" (the last colon splits, so DIR may contain colons). */
export function parseCacheDisk(v: string): { dir: string; bytes: number } {
  const i = v.lastIndexOf(':');
  if (i <= 0) throw new TandemError('BAD_ARGUMENT', `--cache-disk must look like DIR:SIZE (e.g. /var/cache/tandem:20GiB), got "${v}"`);
  return { dir: v.slice(0, i), bytes: parseSize(v.slice(i + 1)) };
}

/** A fraction strictly between 0 and 1. */
export function parseShare(v: string): number {
  const x = Number(v);
  if (!/^\s*0?\.\d+\s*$/.test(v) || !(x > 0 && x < 1)) {
    throw new TandemError('BAD_ARGUMENT', `--cache-snapshot-share must be a fraction between 0 and 1 (e.g. 0.5), got "${v}"`);
  }
  return x;
}

export function addCacheOptions(cmd: Command, diskHelp: string): Command {
  return cmd
    .option('--cache-ram <size>', 'context cache RAM budget, e.g. 512MiB (default 512MiB)', parseSize)
    .option('--cache-disk <dir:size>', diskHelp, parseCacheDisk)
    .option('--cache-snapshot-share <fraction>', `share of each cache budget for Mamba state snapshots; the rest holds attention KV blocks (default: sized from the model, one snapshot per ${SNAPSHOT_SPACING} tokens of KV)`, parseShare)
    .addOption(new Option('--cache-eviction <policy>', 'snapshot eviction: cost (recompute tokens per byte + recency) or lru').choices(['cost', 'lru']).default('cost'))
    .option('--no-cache', 'turn the context (prefix) cache off');
}

/** The cache the flags ask for (undefined with --no-cache). */
export async function openCache(model: CacheModel, f: CacheFlags): Promise<ContextCache | undefined> {
  if (f.cache === false) return undefined;
  return ContextCache.open(model, {
    ramBytes: f.cacheRam ?? DEFAULT_CACHE_RAM,
    ...(f.cacheDisk ? { disk: f.cacheDisk } : {}),
    ...(f.cacheSnapshotShare !== undefined ? { snapshotShare: f.cacheSnapshotShare } : {}),
    ...(f.cacheEviction ? { eviction: f.cacheEviction } : {}),
  });
}

/** The same flags for spawned workers. */
export function workerCacheOptions(f: CacheFlags): WorkerCacheOptions {
  if (f.cache === false) return { enabled: false };
  return {
    enabled: true, ramBytes: f.cacheRam ?? DEFAULT_CACHE_RAM, ...(f.cacheDisk ? { disk: f.cacheDisk } : {}),
    ...(f.cacheSnapshotShare !== undefined ? { snapshotShare: f.cacheSnapshotShare } : {}),
    ...(f.cacheEviction ? { eviction: f.cacheEviction } : {}),
  };
}
