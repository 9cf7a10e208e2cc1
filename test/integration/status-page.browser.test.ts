/**
 * The status page in a real browser: headless Chromium (Debian's `chromium` package, driven by
 * playwright-core with `executablePath`; no browser download) against the service in-process and s3rver,
 * both ways. Without a credential (`/`): the public view renders the live data (charts with points, the
 * device table) with image ids shortened and no camera data, shows hostile device-supplied text as text (no
 * markup, no dialog), refreshes without a reload and logs no console error. With the admin token, which the
 * browser sends as HTTP Basic when `/full/` asks for it: whole ids and camera models; a wrong password gets
 * nothing. Device ids and image ids stay whole on one line at 1280 px and at a phone's 390 px (measured from
 * the text's line boxes), without the page scrolling sideways. Screenshots of each in test-output/. Without a Chromium binary it skips and says why (.ci/run
 * installs `chromium`).
 */
import { accessSync, constants, mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exifJpeg } from '../helpers/exif-jpeg.js';
import { fakeJpeg, postImage } from '../helpers/images.js';
import { startInProcess, waitFor, type InProcessService } from '../helpers/in-process.js';
import { startTestS3, type TestS3 } from '../helpers/s3.js';
import { fetchStatus, HOSTILE_TEXT, insertRowWithoutFile } from '../helpers/status.js';

const SCREENSHOT = path.resolve('test-output', 'status-page.png');
const SCREENSHOT_FULL = path.resolve('test-output', 'status-page-full.png');
/** The id check's screenshots, one per width: `status-page-ids-1280.png`, `status-page-ids-390.png`. */
const screenshotAt = (width: number): string => path.resolve('test-output', `status-page-ids-${width}.png`);
const ADMIN_TOKEN = 'browser-test-admin-token-0123456789abcdef';
const VIEWPORT = { width: 1400, height: 1100 };

/** CHROMIUM_PATH, else the first Chromium or Chrome on PATH. */
function findChromium(): string | null {
  const fromEnv = process.env['CHROMIUM_PATH'];
  if (fromEnv) return fromEnv;
  for (const dir of (process.env['PATH'] ?? '').split(path.delimiter)) {
    for (const name of ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable']) {
      const file = path.join(dir, name);
      try {
        accessSync(file, constants.X_OK);
        return file;
      } catch {
        // not here
      }
    }
  }
  return null;
}

type Playwright = typeof import('playwright-core');

async function loadPlaywright(): Promise<Playwright | string> {
  try {
    return await import('playwright-core');
  } catch (err) {
    return `playwright-core cannot be loaded (${(err as Error).message}); npm ci installs it`;
  }
}

async function post(baseUrl: string, deviceId: string, image: Buffer): Promise<string> {
  const res = await postImage(baseUrl, deviceId, image);
  expect(res.status).toBe(202);
  return String(res.body['id']);
}

/** Dialogs and console errors of a page, collected as they happen. */
function watch(page: Page): { dialogs: string[]; consoleErrors: string[] } {
  const seen = { dialogs: [] as string[], consoleErrors: [] as string[] };
  page.on('dialog', (dialog) => {
    seen.dialogs.push(dialog.message());
    void dialog.dismiss();
  });
  page.on('console', (message) => {
    if (message.type() === 'error') seen.consoleErrors.push(message.text());
  });
  page.on('pageerror', (err) => seen.consoleErrors.push(err.message));
  return seen;
}

const cells = (page: Page, table: string, column: number): Promise<string[]> =>
  page.locator(`#${table} tbody tr td:nth-child(${column})`).allTextContents();

/** The cells that hold a device id or an image id: table id and column. */
const ID_CELLS: ReadonlyArray<readonly [string, number]> = [['devices', 1], ['uploads', 2], ['uploads', 3], ['errors', 3], ['errors', 4], ['dead', 2], ['dead', 3]];

interface IdLayout {
  table: string;
  text: string;
  /** Distinct line boxes the text is laid out on: 1 unless it wraps. */
  lines: number;
  /** Wider than its cell shows (cut off, or ellipsis). */
  clipped: boolean;
}

/**
 * How every id cell of the page is laid out, measured in the browser from the text's own line boxes. (A
 * string: the tests are compiled without the DOM's types.)
 */
function idLayout(page: Page): Promise<IdLayout[]> {
  return page.evaluate(`${JSON.stringify(ID_CELLS)}.flatMap(([table, column]) =>
    [...document.querySelectorAll('#' + table + ' tbody tr td:nth-child(' + column + ')')].map((td) => {
      const range = document.createRange();
      range.selectNodeContents(td);
      const tops = new Set([...range.getClientRects()].map((r) => Math.round(r.top)));
      return { table, text: td.textContent ?? '', lines: tops.size, clipped: td.scrollWidth > td.clientWidth };
    }))`);
}

interface Running {
  s3: TestS3;
  svc: InProcessService;
  browser: Browser;
  /** Every image id the page could show (four uploads and the dead row). */
  ids: string[];
}

describe('status page in headless Chromium', () => {
  let running: Running | null = null;
  let skipped: string | null = null;

  beforeAll(async () => {
    const executablePath = findChromium();
    const playwright = await loadPlaywright();
    if (executablePath === null) skipped = 'no Chromium binary on PATH (apt-get install chromium, or set CHROMIUM_PATH)';
    if (typeof playwright === 'string') skipped = playwright;
    if (skipped !== null || typeof playwright === 'string' || executablePath === null) return;

    const s3 = await startTestS3();
    const svc = await startInProcess(s3, { ADMIN_TOKEN, UPLOAD_BWLIMIT: '08:00,40Mbit 18:00,100Mbit Sat-00:00,off', SPOOL_MIN_FREE_BYTES: '0', SHUTDOWN_GRACE_MS: '100' });
    const browser = await playwright.chromium.launch({ executablePath, headless: true });
    running = { s3, svc, browser, ids: [] };
    const base = svc.baseUrl;
    running.ids.push(await post(base, 'cam-a', fakeJpeg(200_000)));
    running.ids.push(await post(base, 'cam-a', fakeJpeg(150_000)));
    running.ids.push(await post(base, 'cam-b', fakeJpeg(300_000)));
    running.ids.push(await post(base, 'cam-c', exifJpeg({ make: 'Acme', model: HOSTILE_TEXT, padding: 50_000 })));
    running.ids.push(insertRowWithoutFile(svc.service, HOSTILE_TEXT));
    await waitFor(async () => {
      const s = await fetchStatus(base, ADMIN_TOKEN);
      return s.totals.uploaded === 4 && s.totals.dead === 1 && s.recent_uploads.some((u) => u.camera_model === HOSTILE_TEXT) ? true : undefined;
    }, 15_000, 'four uploads and one dead image');
  }, 60_000);

  afterAll(async () => {
    await running?.browser.close();
    await running?.svc.close();
    await running?.s3.close();
  });

  it('without a credential: the public view, live, with ids shortened, no camera data and hostile text as text', async (ctx) => {
    if (running === null) {
      console.log(`SKIPPED status page browser test: ${skipped}`);
      ctx.skip();
      return;
    }
    const { browser, svc, ids } = running;
    const base = svc.baseUrl;
    const page = await browser.newPage({ viewport: VIEWPORT });
    const seen = watch(page);
    const response = await page.goto(`${base}/`);
    expect(response?.status()).toBe(200);

    // First render: the hostile texts are in their cells as text, the device table and charts are filled.
    const deviceCells = page.locator('#devices tbody td');
    await deviceCells.filter({ hasText: HOSTILE_TEXT }).first().waitFor({ timeout: 15_000 });
    expect(await deviceCells.allTextContents()).toContain(HOSTILE_TEXT);
    expect(await page.locator('#devices tbody tr').count()).toBe(4);
    expect(await page.locator('#dead tbody td').allTextContents()).toContain(HOSTILE_TEXT); // the device id
    expect(await page.locator('#errors tbody td').allTextContents()).toContain(HOSTILE_TEXT);
    expect(await page.locator('img').count()).toBe(0); // no element was made from the text
    expect(await page.locator('#conn').textContent()).toBe('live');
    expect(await page.locator('#backlog-images').textContent()).toBe('0 images');

    // No whole image id and no camera model anywhere in the page; the ids' last characters tell rows apart.
    expect(await cells(page, 'uploads', 6)).toEqual(['—', '—', '—', '—']);
    expect((await cells(page, 'uploads', 3)).sort()).toEqual(ids.slice(0, 4).map((id) => `…${id.slice(-6)}`).sort());
    expect(await cells(page, 'dead', 3)).toEqual([`…${ids[4]?.slice(-6)}`]);
    const html = await page.content();
    for (const id of ids) expect(html).not.toContain(id);
    expect(await page.locator('#view').textContent()).toMatch(/^public view/);
    expect(await page.locator('#signin').isVisible()).toBe(true);
    expect(await page.locator('#signin').getAttribute('href')).toBe('full/');

    const points = async (selector: string): Promise<number> => {
      const all = await page.locator(selector).evaluateAll((lines) => lines.map((l) => l.getAttribute('points') ?? ''));
      return Math.max(0, ...all.map((p) => p.split(' ').filter(Boolean).length));
    };
    expect(await points('#chart-backlog polyline')).toBeGreaterThanOrEqual(2); // the start sample and now
    const renders = Number(await page.locator('body').getAttribute('data-renders'));
    expect(renders).toBeGreaterThanOrEqual(1);

    // Live: a new upload appears without a reload, and the charts grow at the sampler's next tick.
    const newId = await post(base, 'cam-new', fakeJpeg(250_000));
    await page.locator('#uploads tbody td').filter({ hasText: `…${newId.slice(-6)}` }).first().waitFor({ timeout: 15_000 });
    await page.locator('#devices tbody td').filter({ hasText: 'cam-new' }).first().waitFor({ timeout: 15_000 });
    expect(await page.content()).not.toContain(newId);
    await waitFor(async () => ((await points('#chart-egress polyline.egress')) >= 2 ? true : undefined), 25_000, 'a second sample in the egress chart');
    expect(await points('#chart-backlog polyline')).toBeGreaterThanOrEqual(3);
    expect(await points('#chart-egress polyline.cap')).toBeGreaterThanOrEqual(2);
    expect(Number(await page.locator('body').getAttribute('data-renders'))).toBeGreaterThan(renders);

    mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    expect(statSync(SCREENSHOT).size).toBeGreaterThan(10_000);
    console.log(`status page screenshot: ${SCREENSHOT}`);

    expect(seen.dialogs).toEqual([]);
    expect(seen.consoleErrors).toEqual([]);
    await page.close();
  }, 90_000);

  it('keeps every device id and image id whole, on one line, at 1280 px and at a phone\'s 390 px (screenshots of both)', async (ctx) => {
    if (running === null) {
      console.log(`SKIPPED status page browser test: ${skipped}`);
      ctx.skip();
      return;
    }
    const { browser, svc } = running;
    // The longest device id the validator admits, beside the whole 26-character image ids of the full view.
    const longDevice = `gate-${'north-'.repeat(9)}cam-001`.slice(0, 64);
    const longId = await post(svc.baseUrl, longDevice, fakeJpeg(120_000));
    await waitFor(async () => ((await fetchStatus(svc.baseUrl, ADMIN_TOKEN)).recent_uploads.some((u) => u.id === longId) ? true : undefined), 15_000, 'the long device id\'s upload');
    mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
    for (const width of [1280, 390]) {
      const context = await browser.newContext({ viewport: { width, height: 900 }, httpCredentials: { username: 'operator', password: ADMIN_TOKEN } });
      try {
        const page = await context.newPage();
        const seen = watch(page);
        expect((await page.goto(`${svc.baseUrl}/full/`))?.status()).toBe(200);
        await page.locator('#uploads tbody td').filter({ hasText: longId }).first().waitFor({ timeout: 15_000 });
        const ids = (await idLayout(page)).filter((c) => c.text !== '—');
        expect(ids.map((c) => c.text)).toEqual(expect.arrayContaining([longDevice, longId, HOSTILE_TEXT]));
        expect(ids.filter((c) => c.lines !== 1 || c.clipped), `${width} px: ids broken over lines or cut`).toEqual([]);
        // Whole ids do not push the page sideways: a table wider than its card scrolls inside the card.
        expect(await page.evaluate<number>('document.documentElement.scrollWidth'), `${width} px: page width`).toBeLessThanOrEqual(width);
        await page.screenshot({ path: screenshotAt(width), fullPage: true });
        expect(statSync(screenshotAt(width)).size).toBeGreaterThan(10_000);
        console.log(`status page at ${width} px: ${screenshotAt(width)}`);
        expect(seen.consoleErrors).toEqual([]);
      } finally {
        await context.close();
      }
    }
  }, 60_000);

  it('with the admin token, sent as HTTP Basic when /full/ asks: whole ids and camera models; a wrong password gets nothing', async (ctx) => {
    if (running === null) {
      console.log(`SKIPPED status page browser test: ${skipped}`);
      ctx.skip();
      return;
    }
    const { browser, svc, ids } = running;
    const base = svc.baseUrl;
    const signedIn = await browser.newContext({ viewport: VIEWPORT, httpCredentials: { username: 'operator', password: ADMIN_TOKEN } });
    try {
      const page = await signedIn.newPage();
      const seen = watch(page);
      expect((await page.goto(`${base}/full/`))?.status()).toBe(200);
      await page.locator('#uploads tbody td').filter({ hasText: HOSTILE_TEXT }).first().waitFor({ timeout: 15_000 }); // the camera model
      const uploadIds = await cells(page, 'uploads', 3);
      for (const id of ids.slice(0, 4)) expect(uploadIds).toContain(id);
      expect(await cells(page, 'dead', 3)).toEqual([ids[4]]);
      expect(await cells(page, 'errors', 4)).toContain(ids[4]);
      expect(await page.locator('img').count()).toBe(0);
      expect(await page.locator('#conn').textContent()).toBe('live');
      expect(await page.locator('#view').textContent()).toBe('full view');
      expect(await page.locator('#signin').isVisible()).toBe(false);
      await page.screenshot({ path: SCREENSHOT_FULL, fullPage: true });
      expect(seen.dialogs).toEqual([]);
      expect(seen.consoleErrors).toEqual([]);
    } finally {
      await signedIn.close();
    }

    const wrong = await browser.newContext({ viewport: VIEWPORT, httpCredentials: { username: 'operator', password: 'not-the-token' } });
    try {
      const page = await wrong.newPage();
      const answer = await page.goto(`${base}/full/`);
      expect(answer?.status()).toBe(401);
      const shown = await page.content();
      expect(shown).toContain('unauthorized');
      for (const id of ids) expect(shown).not.toContain(id);
      expect(await page.locator('#uploads').count()).toBe(0);
    } finally {
      await wrong.close();
    }
  }, 60_000);
});
