/**
 * The status page in a real browser: headless Chromium (Debian's `chromium` package, driven by
 * playwright-core with `executablePath`; no browser download) against the service in-process and s3rver.
 * It renders the live data (charts with points, the device table), shows hostile device-supplied text as
 * text (no markup, no dialog), refreshes without a reload, logs no console error, and leaves a screenshot in
 * test-output/status-page.png. Without a Chromium binary it skips and says why (.ci/run installs `chromium`).
 */
import { accessSync, constants, mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { exifJpeg } from '../helpers/exif-jpeg.js';
import { fakeJpeg, postImage } from '../helpers/images.js';
import { startInProcess, waitFor } from '../helpers/in-process.js';
import { startTestS3 } from '../helpers/s3.js';
import { fetchStatus, HOSTILE_TEXT, insertRowWithoutFile } from '../helpers/status.js';

const SCREENSHOT = path.resolve('test-output', 'status-page.png');

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

describe('status page in headless Chromium', () => {
  it('renders live data, shows hostile text as text, refreshes without a reload, and saves a screenshot', async (ctx) => {
    const executablePath = findChromium();
    const playwright = await loadPlaywright();
    const reason = executablePath === null
      ? 'no Chromium binary on PATH (apt-get install chromium, or set CHROMIUM_PATH)'
      : typeof playwright === 'string' ? playwright : null;
    if (reason !== null || typeof playwright === 'string' || executablePath === null) {
      console.log(`SKIPPED status page browser test: ${reason}`);
      ctx.skip();
      return;
    }

    const s3 = await startTestS3();
    const svc = await startInProcess(s3, { UPLOAD_BWLIMIT: '08:00,40Mbit 18:00,100Mbit Sat-00:00,off', SPOOL_MIN_FREE_BYTES: '0', SHUTDOWN_GRACE_MS: '100' });
    const browser = await playwright.chromium.launch({ executablePath, headless: true });
    try {
      const base = svc.baseUrl;
      await post(base, 'cam-a', fakeJpeg(200_000));
      await post(base, 'cam-a', fakeJpeg(150_000));
      await post(base, 'cam-b', fakeJpeg(300_000));
      await post(base, 'cam-c', exifJpeg({ make: 'Acme', model: HOSTILE_TEXT, padding: 50_000 }));
      insertRowWithoutFile(svc.service, HOSTILE_TEXT);
      await waitFor(async () => {
        const s = await fetchStatus(base);
        return s.totals.uploaded === 4 && s.totals.dead === 1 && s.recent_uploads.some((u) => u.camera_model === HOSTILE_TEXT) ? true : undefined;
      }, 15_000, 'four uploads and one dead image');

      const page = await browser.newPage({ viewport: { width: 1400, height: 1100 } });
      const dialogs: string[] = [];
      const consoleErrors: string[] = [];
      page.on('dialog', (dialog) => {
        dialogs.push(dialog.message());
        void dialog.dismiss();
      });
      page.on('console', (message) => {
        if (message.type() === 'error') consoleErrors.push(message.text());
      });
      page.on('pageerror', (err) => consoleErrors.push(err.message));
      const response = await page.goto(`${base}/`);
      expect(response?.status()).toBe(200);

      // First render: the hostile texts are in their cells as text, the device table and charts are filled.
      const deviceCells = page.locator('#devices tbody td');
      await deviceCells.filter({ hasText: HOSTILE_TEXT }).first().waitFor({ timeout: 15_000 });
      expect(await deviceCells.allTextContents()).toContain(HOSTILE_TEXT);
      expect(await page.locator('#devices tbody tr').count()).toBe(4);
      expect(await page.locator('#uploads tbody td').allTextContents()).toContain(HOSTILE_TEXT); // the camera model
      expect(await page.locator('#dead tbody td').allTextContents()).toContain(HOSTILE_TEXT);
      expect(await page.locator('#errors tbody td').allTextContents()).toContain(HOSTILE_TEXT);
      expect(await page.locator('img').count()).toBe(0); // no element was made from the text
      expect(await page.locator('#conn').textContent()).toBe('live');
      expect(await page.locator('#backlog-images').textContent()).toBe('0 images');
      const points = async (selector: string): Promise<number> => {
        const all = await page.locator(selector).evaluateAll((lines) => lines.map((l) => l.getAttribute('points') ?? ''));
        return Math.max(0, ...all.map((p) => p.split(' ').filter(Boolean).length));
      };
      expect(await points('#chart-backlog polyline')).toBeGreaterThanOrEqual(2); // the start sample and now
      const renders = Number(await page.locator('body').getAttribute('data-renders'));
      expect(renders).toBeGreaterThanOrEqual(1);

      // Live: a new upload appears without a reload, and the charts grow at the sampler's next tick.
      const newId = await post(base, 'cam-new', fakeJpeg(250_000));
      await page.locator('#uploads tbody td').filter({ hasText: newId }).first().waitFor({ timeout: 15_000 });
      await page.locator('#devices tbody td').filter({ hasText: 'cam-new' }).first().waitFor({ timeout: 15_000 });
      await waitFor(async () => ((await points('#chart-egress polyline.egress')) >= 2 ? true : undefined), 25_000, 'a second sample in the egress chart');
      expect(await points('#chart-backlog polyline')).toBeGreaterThanOrEqual(3);
      expect(await points('#chart-egress polyline.cap')).toBeGreaterThanOrEqual(2);
      expect(Number(await page.locator('body').getAttribute('data-renders'))).toBeGreaterThan(renders);

      mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
      await page.screenshot({ path: SCREENSHOT, fullPage: true });
      expect(statSync(SCREENSHOT).size).toBeGreaterThan(10_000);
      console.log(`status page screenshot: ${SCREENSHOT}`);

      expect(dialogs).toEqual([]);
      expect(consoleErrors).toEqual([]);
    } finally {
      await browser.close();
      await svc.close();
      await s3.close();
    }
  });
});
