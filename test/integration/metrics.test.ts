/**
 * GET /metrics against the real service and a real S3 (s3rver): the numbers must be the ones the test
 * caused (requests by status and error code, body bytes to the byte, uploads, backlog), and the whole
 * answer must be valid Prometheus text exposition with HELP and TYPE for every metric.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeJpeg } from '../helpers/images.js';
import { waitFor } from '../helpers/in-process.js';
import { loadDashboard, metricNamesIn } from '../helpers/dashboard.js';
import { allSamples, parseExposition, sampleValue, type Exposition } from '../helpers/prometheus.js';
import { multipartBody, startObservedService, type ObservedService } from '../helpers/raw-http.js';
import { startTestS3, type TestS3 } from '../helpers/s3.js';

const BOUNDARY = 'metrics-test-boundary';

async function scrape(baseUrl: string, headers: Record<string, string> = {}): Promise<Exposition> {
  const res = await fetch(`${baseUrl}/metrics`, { headers });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parseExposition(await res.text());
}

/** POST /image with a body whose exact length the test knows. */
async function post(baseUrl: string, deviceId: string, image: Buffer): Promise<{ status: number; sent: number }> {
  const body = multipartBody(BOUNDARY, [
    { name: 'device_id', value: deviceId },
    { name: 'image', filename: 'p.jpg', contentType: 'image/jpeg', value: image },
  ]);
  const res = await fetch(`${baseUrl}/image`, { method: 'POST', body, headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` } });
  await res.arrayBuffer();
  return { status: res.status, sent: body.length };
}

const value = (m: Exposition, name: string, labels: Record<string, string> = {}): number => {
  const v = sampleValue(m, name, labels);
  if (v === undefined) throw new Error(`no sample ${name}${JSON.stringify(labels)}`);
  return v;
};

describe('GET /metrics while images flow to S3', () => {
  let s3: TestS3;
  let svc: ObservedService;
  beforeAll(async () => {
    s3 = await startTestS3();
    svc = await startObservedService(s3, { UPLOAD_BWLIMIT: '50MB', SPOOL_MIN_FREE_BYTES: '0' });
  });
  afterAll(async () => {
    await svc?.close();
    await s3?.close();
  });

  it('is valid exposition format, unauthenticated by default, with every metric of docs/METRICS.md and the process metrics', async () => {
    const m = await scrape(svc.baseUrl);
    const documented = [...readFileSync(new URL('../../docs/METRICS.md', import.meta.url), 'utf8').matchAll(/^\| `(image_spool_[a-z0-9_]+)` \|/gm)].map((x) => x[1]);
    expect(documented.length).toBeGreaterThanOrEqual(20);
    const ours = [...m.keys()].filter((n) => n.startsWith('image_spool_')).sort();
    expect(ours).toEqual([...documented].sort());
    for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_p99_seconds', 'nodejs_heap_size_used_bytes']) {
      expect(m.has(name), name).toBe(true);
    }
    // Nothing happened yet: the outcome series exist at zero, so rate() works from the first scrape.
    for (const outcome of ['uploaded', 'retry', 'dead', 'systemic', 'shutdown']) expect(value(m, 'image_spool_upload_attempts_total', { outcome })).toBe(0);
    expect(value(m, 'image_spool_ingest_received_bytes_total')).toBe(0);
    expect(value(m, 'image_spool_backlog_images')).toBe(0);
    expect(value(m, 'image_spool_egress_cap_bytes_per_second')).toBe(50e6);
    expect(value(m, 'image_spool_spool_free_bytes')).toBeGreaterThan(0);
  });

  it('counts requests by code, bytes received exactly, uploads, egress, commits; the backlog drains to 0', async () => {
    // Refusals first: one before the body is read (415), one after reading it (400).
    const refused = await fetch(`${svc.baseUrl}/image`, { method: 'POST', body: 'x', headers: { 'content-type': 'text/plain' } });
    expect(refused.status).toBe(415);
    expect((await post(svc.baseUrl, 'bad id!', fakeJpeg(500))).status).toBe(400);
    const before = value(await scrape(svc.baseUrl), 'image_spool_ingest_received_bytes_total');
    expect(before).toBeGreaterThan(0);

    const images = [1000, 20_000, 150_000, 300_000, 64 * 1024 + 7].map((n) => fakeJpeg(n));
    let sent = 0;
    for (const [i, image] of images.entries()) {
      const res = await post(svc.baseUrl, `cam-${i % 2}`, image);
      expect(res.status).toBe(202);
      sent += res.sent;
    }
    const resend = await post(svc.baseUrl, 'cam-0', images[0] as Buffer);
    expect(resend.status).toBe(200);
    sent += resend.sent;
    const imageBytes = images.reduce((sum, b) => sum + b.length, 0);

    const m = await waitFor(async () => {
      const now = await scrape(svc.baseUrl);
      return value(now, 'image_spool_upload_attempts_total', { outcome: 'uploaded' }) === images.length ? now : undefined;
    }, 20_000, 'every image uploaded');

    const requests = (code: string, error: string): number => value(m, 'image_spool_ingest_requests_total', { route: 'image', code, error });
    expect(requests('202', 'none')).toBe(5);
    expect(requests('200', 'none')).toBe(1);
    expect(requests('415', 'unsupported_media_type')).toBe(1);
    expect(requests('400', 'invalid_device_id')).toBe(1);
    expect(value(m, 'image_spool_ingest_received_bytes_total') - before).toBe(sent);
    expect(value(m, 'image_spool_ingest_duration_seconds_count', { route: 'image', result: 'success' })).toBe(6);
    expect(value(m, 'image_spool_ingest_duration_seconds_count', { route: 'image', result: 'error' })).toBe(2);
    expect(value(m, 'image_spool_ingest_duration_seconds_sum', { route: 'image', result: 'success' })).toBeGreaterThan(0);

    // Five rows, in at most five group commits (one WAL fsync each), each measured.
    expect(value(m, 'image_spool_ledger_committed_rows_total')).toBe(5);
    const commits = value(m, 'image_spool_ledger_commit_duration_seconds_count');
    expect(commits).toBeGreaterThanOrEqual(1);
    expect(commits).toBeLessThanOrEqual(5);
    expect(value(m, 'image_spool_ledger_commit_duration_seconds_sum')).toBeGreaterThan(0);

    expect(value(m, 'image_spool_upload_attempts_total', { outcome: 'dead' })).toBe(0);
    expect(value(m, 'image_spool_uploaded_bytes_total')).toBe(imageBytes);
    // Every body byte passed the budget, plus the per-request header allowance.
    expect(value(m, 'image_spool_egress_bytes_total')).toBeGreaterThanOrEqual(imageBytes);
    expect(value(m, 'image_spool_images', { state: 'uploaded' })).toBe(5);
    expect(value(m, 'image_spool_images_bytes', { state: 'uploaded' })).toBe(imageBytes);
    expect(value(m, 'image_spool_images', { state: 'dead' })).toBe(0);
    expect(value(m, 'image_spool_images', { state: 'evicted' })).toBe(0);

    const drained = await waitFor(async () => {
      const now = await scrape(svc.baseUrl);
      return value(now, 'image_spool_uploads_in_flight') === 0 ? now : undefined;
    }, 5000, 'no upload in flight');
    expect(value(drained, 'image_spool_backlog_images')).toBe(0);
    expect(value(drained, 'image_spool_backlog_bytes')).toBe(0);
    expect(value(drained, 'image_spool_oldest_queued_age_seconds')).toBe(0);
    expect(value(drained, 'image_spool_drain_eta_seconds')).toBe(0);
    expect(value(drained, 'image_spool_spool_stored_bytes')).toBe(0);
    expect(value(drained, 'image_spool_ingests_in_flight')).toBe(0);
    expect(value(drained, 'image_spool_uploader_paused')).toBe(0);
    // The SDK's objects agree with the counter.
    expect((await s3.listAll()).length).toBe(5);

    // Every metric the Grafana dashboard queries is in this real answer (test/unit/grafana-dashboard.test.ts checks labels too).
    const exposed = new Set(allSamples(drained).map((x) => x.name));
    const queried = loadDashboard().panels.flatMap((p) => (p.targets ?? []).flatMap((t) => metricNamesIn(t.expr)));
    expect(queried.length).toBeGreaterThan(20);
    expect(queried.filter((name) => !exposed.has(name))).toEqual([]);
  });

  it('labels uploads through an upload link route="link", and counts their bytes', async () => {
    const created = await fetch(`${svc.baseUrl}/admin/links`, {
      method: 'POST', headers: { authorization: `Bearer ${svc.adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ expires_in: '1h' }),
    });
    expect(created.status).toBe(201);
    const { url } = (await created.json()) as { url: string };
    const before = value(await scrape(svc.baseUrl), 'image_spool_ingest_received_bytes_total');
    const body = multipartBody(BOUNDARY, [
      { name: 'device_id', value: 'visitor-1' },
      { name: 'image', filename: 'a.jpg', value: fakeJpeg(4000) },
      { name: 'image', filename: 'b.jpg', value: fakeJpeg(5000) },
    ]);
    const res = await fetch(url, { method: 'POST', body, headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` } });
    expect(res.status).toBe(202);
    const m = await scrape(svc.baseUrl);
    expect(value(m, 'image_spool_ingest_requests_total', { route: 'link', code: '202', error: 'none' })).toBe(1);
    expect(value(m, 'image_spool_ingest_received_bytes_total') - before).toBe(body.length);
    expect(value(m, 'image_spool_ingest_duration_seconds_count', { route: 'link', result: 'success' })).toBe(1);
  });
});

describe('GET /metrics while S3 is down (METRICS_AUTH=admin)', () => {
  let svc: ObservedService;
  beforeAll(async () => {
    // An S3 endpoint that refuses connections: every upload is a systemic failure and the uploader pauses.
    const s3 = await startTestS3();
    await s3.close();
    svc = await startObservedService(s3, { UPLOAD_BWLIMIT: '10KB', SPOOL_MIN_FREE_BYTES: '0', METRICS_AUTH: 'admin' });
  });
  afterAll(async () => {
    await svc?.close();
  });

  it('needs the admin token, and shows the backlog, its age, the drain ETA at the cap, and the pause', async () => {
    expect((await fetch(`${svc.baseUrl}/metrics`)).status).toBe(401);
    expect((await fetch(`${svc.baseUrl}/metrics`, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
    const auth = { authorization: `Bearer ${svc.adminToken}` };
    for (let i = 0; i < 3; i++) expect((await post(svc.baseUrl, `cam-${i}`, fakeJpeg(200_000))).status).toBe(202);

    const m = await waitFor(async () => {
      const now = await scrape(svc.baseUrl, auth);
      const settled = value(now, 'image_spool_uploader_paused') === 1 && value(now, 'image_spool_images', { state: 'queued' }) === 3;
      return settled && value(now, 'image_spool_oldest_queued_age_seconds') > 0 ? now : undefined;
    }, 10_000, 'the uploader to pause with every claim back in the queue');
    expect(value(m, 'image_spool_upload_attempts_total', { outcome: 'systemic' })).toBeGreaterThanOrEqual(1);
    expect(value(m, 'image_spool_upload_attempts_total', { outcome: 'uploaded' })).toBe(0);
    expect(value(m, 'image_spool_backlog_images')).toBe(3);
    expect(value(m, 'image_spool_backlog_bytes')).toBe(600_000);
    expect(value(m, 'image_spool_spool_stored_bytes')).toBe(600_000);
    expect(value(m, 'image_spool_oldest_queued_age_seconds')).toBeLessThan(60);
    expect(value(m, 'image_spool_egress_cap_bytes_per_second')).toBe(10_000);
    expect(value(m, 'image_spool_drain_eta_seconds')).toBe(60); // 600 kB at 10 kB/s

    // An operator override moves the cap and the estimate at once.
    svc.service.bandwidth.setOverride('100KB');
    const after = await scrape(svc.baseUrl, auth);
    expect(value(after, 'image_spool_egress_cap_bytes_per_second')).toBe(100_000);
    expect(value(after, 'image_spool_egress_configured_cap_bytes_per_second')).toBe(100_000);
    expect(value(after, 'image_spool_drain_eta_seconds')).toBe(6);
  });
});
