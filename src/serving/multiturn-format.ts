/** The human-readable table of a multiturn benchmark (`tandem bench serve --workload multiturn` without --json). */
import type { MultiturnReport } from './multiturn.js';

const fmt = (v: number | null, digits = 2): string => (v === null ? '-' : v.toFixed(digits));
const pct = (v: number | null): string => (v === null ? '-' : `${(v * 100).toFixed(1)} %`);

/** The human-readable table printed without `--json`. */
export function formatMultiturnReport(r: MultiturnReport): string {
  const row = (label: string, value: string): string => `${label.padEnd(34)}${value}`;
  const kinds = Object.entries(r.error_kinds).map(([k, n]) => `${k}: ${n}`).join(', ');
  const examples = Object.entries(r.error_examples).map(([k, m]) => row(`  first ${k}:`, m.replace(/\s+/g, ' ').slice(0, 120)));
  const lines = [
    `============ tandem bench serve --workload multiturn${r.interrupted ? ' (interrupted)' : ''} ============`,
    row('Server / model:', `${r.url}  ${r.model}`),
    row('Sessions × turns (branched):', `${r.sessions} × ${r.turns}  (${r.branched} branched turns)`),
    row('Requests ok / failed / sent:', `${r.completed} / ${r.failed} / ${r.num_requests}${kinds ? `  (${kinds})` : ''}`),
    ...examples,
    row('Concurrency (limit / peak):', `${r.max_concurrency} / ${r.peak_concurrency}`),
    row('System / turn / output tokens:', `${r.system_tokens} / ${r.turn_tokens} / ${r.output_tokens}  (think ${r.think_ms} ms)`),
    row('Wall time (s):', fmt(r.duration)),
    row('Input / cached / output tokens:', `${r.total_input_tokens} / ${r.total_cached_tokens} / ${r.total_output_tokens}`),
    row('Hit rate (cached / prompt):', pct(r.hit_rate)),
    row('Oracle hit rate:', `${pct(r.oracle_hit_rate)}  (with outputs: ${pct(r.oracle_hit_rate_with_outputs)})`),
    row('Captured (hit rate / oracle):', pct(r.captured)),
    row('TTFT ms (mean / p50 / p90 / p99):', [r.mean_ttft_ms, r.p50_ttft_ms, r.p90_ttft_ms, r.p99_ttft_ms].map((v) => fmt(v)).join(' / ')),
    '',
    `${'turn'.padEnd(6)}${['reqs', 'in tok', 'hit', 'oracle', 'TTFT p50', 'TTFT p90'].map((h) => h.padStart(11)).join('')}`,
  ];
  for (const t of r.per_turn) {
    const cells = [String(t.requests), fmt(t.mean_input_tokens, 0), pct(t.hit_rate), pct(t.oracle_hit_rate), fmt(t.p50_ttft_ms), fmt(t.p90_ttft_ms)];
    lines.push(`${String(t.turn).padEnd(6)}${cells.map((c) => c.padStart(11)).join('')}`);
  }
  lines.push('='.repeat(50));
  return lines.join('\n');
}
