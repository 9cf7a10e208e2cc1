/**
 * Bwlimit latency: how fast does a new budget reach the wire? The product promises that a live change
 * (`PUT /admin/bwlimit`) applies to uploads already in flight within 1 s, and that a timetable entry takes
 * over within 1 s of its time. The service runs with a two-entry timetable (2MB now, 5MB from a minute
 * boundary 22-82 s ahead) and a backlog that keeps 4 uploads busy; the byte meter sits in front of s3rver.
 * Live changes: override 1MB, clear, override 4MB, clear. Then the timetable switch.
 * Latency = from the PUT's 200 (or the minute boundary) to the start of the first 200 ms window (10 ms
 * steps) whose rate, and the 1 s from that point, are within 10% of the new rate. A window starting
 * there measures the rate from that moment on, so the window's own length is not counted as delay; it may
 * straddle the change by up to ~30 ms (2MB -> 5MB) and still qualify, so live changes, which apply before
 * the 200 is sent, can show a few ms below zero.
 */
import http from 'node:http';
import net from 'node:net';
import { startMeterProxy, type MeterProxy, type Samples } from './byte-meter-proxy.js';
import { fakeJpeg, postImage, sleep, startS3, startService, type Cleanup, type Row, type ServiceChild } from './harness.js';

const MB = 1_000_000; // "MB" in UPLOAD_BWLIMIT and the admin API is 10^6 bytes/s (src/throttle/rate.ts)
const BASE = 2 * MB; // timetable entry in force at start
const SWITCHED = 5 * MB; // timetable entry at the minute boundary
const ADMIN_TOKEN = 'bench-bwlimit-latency-0123456789abcdefgh'; // 40 chars; the service wants >= 32

const MIN_LEAD_MS = 22_000; // room for start-up, the backlog posts and the live changes before the switch
const SETTLE_MS = 2_000; // steady budget after the posts, before the first change
const HOLD_MS = 2_500; // each live change: room for a late settle (up to 1.5 s) plus its 1 s average
const AFTER_SWITCH_MS = 4_000;
const WINDOW_MS = 200;
const STEP_MS = 10;
const AVG_MS = 1_000;
const TOLERANCE = 0.1;
const TARGET_MS = 1_000;
const PROBES = 5;

export interface BwlimitLatencyOptions {
  imageBytes: number;
  /** Images posted beyond what the planned run consumes, so 4 uploads stay busy to the end. */
  spareImages: number;
  /** Also wait for the timetable switch at the next minute boundary, 22-82 s ahead (--quick skips it). */
  timetableSwitch: boolean;
}

interface Timetable {
  text: string;
  /** Epoch ms of the minute boundary where SWITCHED takes over. */
  switchAt: number;
  switchLabel: string;
}

/** One change of budget: `from` is the earliest it can take effect, `at` the moment the clock starts. */
interface Change {
  label: string;
  /** What `at` is, for the table. */
  since: 'PUT 200' | 'the minute';
  from: number;
  at: number;
  rate: number;
  previousRate: number;
}

interface BudgetLog {
  time: number;
  bwlimit: string;
}

const hhmm = (d: Date): string => `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
const mbit = (rate: number): string => `${(rate * 8) / 1e6}Mbit/s`; // how the service logs a rate

/**
 * Local time, as src/throttle/schedule.ts reads it. The first entry is the current minute (not the minute
 * before the switch: the switch may be two minutes ahead), so BASE is in force from now until the switch.
 * Date's setters carry over hours and midnight, so 23:59 -> 00:00 needs no special case.
 */
function timetable(now: Date): Timetable {
  const current = new Date(now);
  current.setSeconds(0, 0);
  const next = new Date(current);
  do next.setMinutes(next.getMinutes() + 1);
  while (next.getTime() - now.getTime() < MIN_LEAD_MS);
  return {
    text: `${hhmm(current)},${BASE / MB}MB ${hhmm(next)},${SWITCHED / MB}MB`,
    switchAt: next.getTime(),
    switchLabel: hhmm(next),
  };
}

/** Enough images for everything the run sends, at the highest rate of each phase. */
function imageCount(plan: Timetable, o: BwlimitLatencyOptions): number {
  const baseMs = o.timetableSwitch ? plan.switchAt - Date.now() : SETTLE_MS + 4 * HOLD_MS + AVG_MS;
  const bytes = (BASE * baseMs + 4 * MB * HOLD_MS + (o.timetableSwitch ? SWITCHED * AFTER_SWITCH_MS : 0)) / 1000;
  return Math.ceil(bytes / o.imageBytes) + o.spareImages;
}

interface AdminReply {
  status: number;
  body: string;
  sentAt: number;
  /** Epoch ms when the response head arrived. */
  ackAt: number;
}

function admin(baseUrl: string, method: 'GET' | 'PUT', payload?: unknown): Promise<AdminReply> {
  const body = payload === undefined ? '' : JSON.stringify(payload);
  return new Promise((resolve, reject) => {
    const sentAt = Date.now();
    const req = http.request(`${baseUrl}/admin/bwlimit`, {
      method,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    }, (res) => {
      const ackAt = Date.now();
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), sentAt, ackAt }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function putRate(baseUrl: string, rate: string | null): Promise<AdminReply> {
  const reply = await admin(baseUrl, 'PUT', { rate });
  if (reply.status !== 200) throw new Error(`bwlimit: PUT ${String(rate)} answered ${reply.status} ${reply.body}`);
  return reply;
}

/** Guards the premise: the timetable (not an override) holds BASE when the run starts. */
async function expectTimetableRate(baseUrl: string, plan: Timetable): Promise<void> {
  const reply = await admin(baseUrl, 'GET');
  const state: unknown = JSON.parse(reply.body);
  const ok = typeof state === 'object' && state !== null &&
    (state as { rate_bytes_per_sec?: unknown }).rate_bytes_per_sec === BASE && (state as { source?: unknown }).source === 'schedule';
  if (!ok) throw new Error(`bwlimit: expected ${BASE} B/s from timetable "${plan.text}", service says ${reply.status} ${reply.body}`);
}

/** Sends one small request through the meter and returns the epoch ms just before it was written. */
function probe(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => {
      const sentAt = Date.now();
      socket.end('HEAD / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
      resolve(sentAt);
    });
    socket.resume(); // s3rver's answer is of no interest
    socket.on('error', reject);
  });
}

/**
 * The meter stamps chunks with performance.now() in its worker thread, whose time origin need not be the
 * main thread's; `offset` maps a stamp to epoch ms (the service's log and the timetable use epoch ms).
 * A probe is stamped a little after it is sent, never before, so the largest estimate is the closest.
 */
async function calibrate(meter: MeterProxy): Promise<{ offset: number; spread: number }> {
  const estimates: number[] = [];
  for (let i = 0; i < PROBES; i++) {
    await meter.take();
    const sentAt = await probe(meter.port);
    await sleep(30);
    const { t } = await meter.take();
    if (t.length !== 1) throw new Error(`bwlimit: calibration probe seen as ${t.length} chunks, expected 1`);
    estimates.push(sentAt - (t[0] as number));
  }
  const offset = Math.max(...estimates);
  return { offset, spread: offset - Math.min(...estimates) };
}

/** Meter samples in 10 ms bins on the epoch clock, with prefix sums: any window's rate is one subtraction. */
class Trace {
  private readonly prefix: Float64Array;
  private readonly start: number;

  constructor(samples: Samples, offset: number) {
    const n = samples.t.length;
    if (n === 0) throw new Error('bwlimit: the meter saw no uploads');
    this.start = Math.floor((samples.t[0] as number) + offset);
    const bins = new Float64Array(Math.floor(((samples.t[n - 1] as number) + offset - this.start) / STEP_MS) + 1);
    for (let i = 0; i < n; i++) {
      const k = Math.floor(((samples.t[i] as number) + offset - this.start) / STEP_MS);
      bins[k] = (bins[k] as number) + (samples.bytes[i] as number);
    }
    this.prefix = new Float64Array(bins.length + 1);
    for (let k = 0; k < bins.length; k++) this.prefix[k + 1] = (this.prefix[k] as number) + (bins[k] as number);
  }

  /** Epoch ms of the end of the last full bin. */
  get end(): number {
    return this.start + (this.prefix.length - 1) * STEP_MS;
  }

  /** Bytes/s over [from, from + ms), `from` rounded to the 10 ms grid. */
  rate(from: number, ms: number): number {
    const last = this.prefix.length - 1;
    const i = Math.min(last, Math.max(0, Math.round((from - this.start) / STEP_MS)));
    const j = Math.min(last, i + Math.round(ms / STEP_MS));
    return (((this.prefix[j] as number) - (this.prefix[i] as number)) * 1000) / ms;
  }
}

const near = (measured: number, rate: number): boolean => Math.abs(measured / rate - 1) <= TOLERANCE;

/** Start of the first window at the new rate whose next second holds it too; null if not by `until`. */
function settledAt(trace: Trace, c: Change, until: number): number | null {
  for (let s = c.from; s + AVG_MS <= until; s += STEP_MS) {
    if (near(trace.rate(s, WINDOW_MS), c.rate) && near(trace.rate(s, AVG_MS), c.rate)) return s;
  }
  return null;
}

function budgetLogs(service: ServiceChild): BudgetLog[] {
  const out: BudgetLog[] = [];
  for (const line of service.logTail(2000).split('\n')) {
    if (!line.includes('"msg":"upload budget changed"')) continue;
    const entry: unknown = JSON.parse(line);
    const { time, bwlimit } = entry as { time?: unknown; bwlimit?: unknown };
    // pino writes `time` as epoch ms by default; this service configures ISO strings.
    const epoch = typeof time === 'string' ? Date.parse(time) : time;
    if (typeof epoch === 'number' && Number.isFinite(epoch) && typeof bwlimit === 'string') out.push({ time: epoch, bwlimit });
  }
  return out;
}

/** Epoch ms the service logged the change (first matching line since `from`), or null. */
function loggedAt(logs: BudgetLog[], c: Change): number | null {
  return logs.find((l) => l.time >= c.from && l.bwlimit === mbit(c.rate))?.time ?? null;
}

async function liveChanges(baseUrl: string): Promise<Change[]> {
  const steps: Array<{ label: string; body: string | null; rate: number }> = [
    { label: 'override 2MB -> 1MB', body: '1MB', rate: 1 * MB },
    { label: 'clear 1MB -> timetable 2MB', body: null, rate: BASE },
    { label: 'override 2MB -> 4MB', body: '4MB', rate: 4 * MB },
    { label: 'clear 4MB -> timetable 2MB', body: null, rate: BASE },
  ];
  const changes: Change[] = [];
  let previousRate = BASE;
  for (const step of steps) {
    const reply = await putRate(baseUrl, step.body);
    changes.push({ label: `live ${step.label}`, since: 'PUT 200', from: reply.sentAt, at: reply.ackAt, rate: step.rate, previousRate });
    previousRate = step.rate;
    await sleep(reply.ackAt + HOLD_MS - Date.now());
  }
  return changes;
}

function row(metric: string, value: string, target: string, result: string): Row {
  return { bench: 'bwlimit', metric, spool: value, target, spoolResult: result, rclone: '-', rcloneResult: '' };
}

const ms = (x: number | null, none: string): string => (x === null ? none : `${Math.round(x)} ms`);
const verdict = (x: number | null): string => (x !== null && x <= TARGET_MS ? 'PASS' : 'FAIL');

function changeRows(trace: Trace, logs: BudgetLog[], changes: Change[]): Row[] {
  return changes.flatMap((c, i) => {
    const until = changes[i + 1]?.from ?? trace.end;
    const settled = settledAt(trace, c, until);
    const latency = settled === null ? null : settled - c.at;
    const logged = loggedAt(logs, c);
    const apply = logged === null ? null : logged - c.at;
    const steady = (trace.rate(c.at + 1000, 1000) / c.rate).toFixed(3);
    return [
      row(`${c.label}: egress within 10% of new rate, after ${c.since}`, ms(latency, `not by ${Math.round(until - AVG_MS - c.at)} ms`), `<= ${TARGET_MS} ms`, verdict(latency)),
      row(`${c.label}: "upload budget changed" logged, after ${c.since}`, ms(apply, 'not logged'), `<= ${TARGET_MS} ms`, verdict(apply)),
      row(`${c.label}: mean of [+1 s, +2 s) / new rate`, steady, 'info', ''),
    ];
  });
}

/** The 1 s before each change should hold the previous rate; if not, the backlog ran dry and the run says little. */
function baselineRow(trace: Trace, changes: Change[]): Row {
  const ratios = changes.map((c) => trace.rate(c.from - AVG_MS, AVG_MS) / c.previousRate);
  return row('1 s before each change / rate then in force (min..max)', `${Math.min(...ratios).toFixed(3)}..${Math.max(...ratios).toFixed(3)}`, 'info', '');
}

export async function runBwlimitLatency(o: BwlimitLatencyOptions, cleanup: Cleanup): Promise<Row[]> {
  const plan = timetable(new Date());
  const images = Array.from({ length: imageCount(plan, o) }, () => fakeJpeg(o.imageBytes));
  const s3 = await startS3(cleanup);
  const meter = await startMeterProxy(s3.port);
  cleanup.add(() => meter.close());
  const service = await startService(cleanup, {
    S3_BUCKET: s3.bucket, S3_ENDPOINT: `http://127.0.0.1:${meter.port}`, S3_PREFIX: 'bwlimit',
    UPLOAD_BWLIMIT: plan.text, ADMIN_TOKEN,
    // Pinned: the bucket must stay saturated, or gaps between images would read as a slow switch.
    UPLOAD_CONCURRENCY: '4',
  });
  await expectTimetableRate(service.baseUrl, plan);
  const clock = await calibrate(meter);
  console.log(`bwlimit: ${images.length} x ${o.imageBytes / 1e6} MB, UPLOAD_BWLIMIT="${plan.text}", ` +
    (o.timetableSwitch ? `switch in ${((plan.switchAt - Date.now()) / 1000).toFixed(1)} s ...` : 'live changes only (--quick: no wait for the timetable switch) ...'));
  const results = await Promise.all(images.map((img, i) => postImage(service.baseUrl, `cam-${i % 8}`, [img])));
  if (results.some((r) => r.status !== 202)) throw new Error(`bwlimit: posts refused\n${service.logTail(20)}`);
  await sleep(SETTLE_MS);
  const live = await liveChanges(service.baseUrl);
  if (Date.now() + AVG_MS > plan.switchAt) {
    throw new Error(`bwlimit: live changes ran into the timetable switch at ${plan.switchLabel}; raise MIN_LEAD_MS`);
  }
  if (o.timetableSwitch) await sleep(plan.switchAt + AFTER_SWITCH_MS - Date.now());
  else await sleep(AVG_MS);
  const trace = new Trace(await meter.take(), clock.offset);
  const logs = budgetLogs(service);
  await service.stop();
  const changes: Change[] = o.timetableSwitch ? [...live, {
    label: `timetable ${plan.switchLabel} 2MB -> 5MB`, since: 'the minute', from: plan.switchAt, at: plan.switchAt, rate: SWITCHED, previousRate: BASE,
  }] : live;
  return [
    ...changeRows(trace, logs, changes),
    baselineRow(trace, changes),
    row(`meter clock calibration (${PROBES} probes): spread`, `${clock.spread.toFixed(1)} ms`, 'info', ''),
  ];
}
