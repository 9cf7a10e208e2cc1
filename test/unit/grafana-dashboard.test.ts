/**
 * deploy/grafana-dashboard.json cannot drift from the service: every query must name metrics, labels and
 * label values that the service's own registry (the one main.ts builds) writes to /metrics.
 */
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import type { ImageRow } from '../../src/ledger/types.js';
import { createServiceMetrics } from '../../src/metrics/registry.js';
import type { UploaderEvents } from '../../src/uploader/uploader.js';
import { loadDashboard, metricNamesIn } from '../helpers/dashboard.js';
import { allSamples, parseExposition, type Sample } from '../helpers/prometheus.js';

/** What a real registry writes once every kind of event has happened at least once. */
async function exposedSamples(): Promise<Sample[]> {
  const metrics = createServiceMetrics({
    stateTotals: () => ({ queued: { images: 2, bytes: 20 }, uploading: { images: 1, bytes: 10 }, uploaded: { images: 5, bytes: 50 }, dead: { images: 1, bytes: 1 }, evicted: { images: 0, bytes: 0 }, duplicate: { images: 3, bytes: 30 } }),
    oldestWaitingAt: () => new Date(Date.now() - 5000).toISOString(),
    rate: () => 1000,
    configuredRate: () => 2000,
    egressBytes: () => 123,
    freeBytes: async () => 1e9,
    storedBytes: () => 31,
    uploadsInFlight: () => 1,
    ingestsInFlight: () => 0,
    pausedReason: () => null,
  }, { requireAdmin: false });
  metrics.events.ingest({ route: 'image', status: 202, error: null, seconds: 0.02 });
  metrics.events.ingest({ route: 'link', status: 507, error: 'disk_full', seconds: 0.001 });
  metrics.events.bodyBytes(100);
  metrics.events.ledgerCommit(0.001, 3);
  const uploader = new EventEmitter<UploaderEvents>();
  metrics.events.watchUploader(uploader);
  uploader.emit('image:uploaded', { bytes: 10 } as ImageRow);
  return allSamples(parseExposition(await metrics.registry.metrics()));
}

/** Labels Prometheus adds at scrape time. */
const TARGET_LABELS = new Set(['instance', 'job']);

describe('deploy/grafana-dashboard.json', () => {
  const dashboard = loadDashboard();
  const panels = dashboard.panels.filter((p) => p.type !== 'row');

  it('is an importable Grafana dashboard with a ${DS_PROMETHEUS} data source input', () => {
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
    expect(dashboard.uid).toMatch(/^[a-z0-9-]{1,40}$/);
    expect(dashboard.__inputs).toContainEqual(expect.objectContaining({ name: 'DS_PROMETHEUS', type: 'datasource', pluginId: 'prometheus' }));
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of panels) {
      expect(p.datasource, p.title).toEqual({ type: 'prometheus', uid: '${DS_PROMETHEUS}' });
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
      for (const t of p.targets ?? []) expect(t.datasource?.uid, p.title).toBe('${DS_PROMETHEUS}');
    }
    // Panels sit on the 24-column grid without overlapping.
    const cells = new Set<string>();
    for (const p of dashboard.panels) {
      expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
      for (let x = p.gridPos.x; x < p.gridPos.x + p.gridPos.w; x++) {
        for (let y = p.gridPos.y; y < p.gridPos.y + p.gridPos.h; y++) {
          expect(cells.has(`${x},${y}`), `${p.title} overlaps at ${x},${y}`).toBe(false);
          cells.add(`${x},${y}`);
        }
      }
    }
  });

  it('has the panels an operator needs: backlog, age, ETA, egress against the cap, errors, latency, disk, commits', () => {
    const exprs = panels.map((p) => (p.targets ?? []).map((t) => t.expr).join('\n'));
    const onOnePanel = (...patterns: RegExp[]): boolean => exprs.some((e) => patterns.every((re) => re.test(e)));
    expect(onOnePanel(/image_spool_backlog_images/)).toBe(true);
    expect(onOnePanel(/image_spool_backlog_bytes/)).toBe(true);
    expect(onOnePanel(/image_spool_oldest_queued_age_seconds/)).toBe(true);
    expect(onOnePanel(/image_spool_drain_eta_seconds/)).toBe(true);
    expect(onOnePanel(/rate\(image_spool_egress_bytes_total/, /image_spool_egress_cap_bytes_per_second/)).toBe(true);
    expect(onOnePanel(/sum by \(code\) \(rate\(image_spool_ingest_requests_total/)).toBe(true);
    expect(onOnePanel(/image_spool_ingest_requests_total\{[^}]*error!="none"/)).toBe(true);
    expect(onOnePanel(/histogram_quantile\(0\.5, [^\n]*image_spool_ingest_duration_seconds_bucket/, /histogram_quantile\(0\.99, [^\n]*image_spool_ingest_duration_seconds_bucket/)).toBe(true);
    expect(onOnePanel(/by \(outcome\) \(rate\(image_spool_upload_attempts_total/)).toBe(true);
    expect(onOnePanel(/image_spool_images\{[^}]*state="dead"/, /image_spool_images\{[^}]*state="evicted"/)).toBe(true);
    expect(onOnePanel(/image_spool_spool_free_bytes/)).toBe(true);
    expect(onOnePanel(/histogram_quantile\(0\.99, [^\n]*image_spool_ledger_commit_duration_seconds_bucket/)).toBe(true);
  });

  it('reads only metrics, labels and label values the service exposes', async () => {
    const samples = await exposedSamples();
    const byName = new Map<string, Sample[]>();
    for (const s of samples) byName.set(s.name, [...(byName.get(s.name) ?? []), s]);
    const problems: string[] = [];
    for (const p of panels) {
      for (const { expr } of p.targets ?? []) {
        const names = metricNamesIn(expr);
        if (names.length === 0) problems.push(`${p.title}: no metric in ${expr}`);
        for (const name of names) if (!byName.has(name)) problems.push(`${p.title}: ${name} is not exposed`);
        // Label matchers on a metric: the label exists on it, and a literal `=` value is one it takes.
        for (const m of expr.matchAll(/\b([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}/g)) {
          const ofMetric = byName.get(m[1] as string) ?? [];
          for (const [, label, op, wanted] of (m[2] as string).matchAll(/([a-zA-Z_]+)\s*(=~|!~|!=|=)\s*"([^"]*)"/g)) {
            if (TARGET_LABELS.has(label as string)) continue;
            if (!ofMetric.some((s) => label as string in s.labels)) problems.push(`${p.title}: ${m[1]} has no label ${label}`);
            else if (op === '=' && !(wanted as string).includes('$') && !ofMetric.some((s) => s.labels[label as string] === wanted)) {
              problems.push(`${p.title}: ${m[1]} never has ${label}="${wanted}"`);
            }
          }
        }
        // Aggregation labels: each is on some metric the expression reads.
        for (const m of expr.matchAll(/\bby \(([^)]*)\)/g)) {
          for (const label of (m[1] as string).split(',').map((l) => l.trim())) {
            if (TARGET_LABELS.has(label)) continue;
            if (!names.some((n) => (byName.get(n) ?? []).some((s) => label in s.labels))) problems.push(`${p.title}: no metric in it has label ${label}`);
          }
        }
      }
    }
    expect(problems).toEqual([]);
  });
});
