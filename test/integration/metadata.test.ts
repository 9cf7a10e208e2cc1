/**
 * The catalogue's metadata: read from the image's own bytes right after ingest (the ack does not wait for
 * it), shown by GET /images/{id}/status to a credential (here the admin token). Images without EXIF or with
 * corrupt EXIF are normal: nulls.
 */
import { describe, expect, it } from 'vitest';
import { exifJpeg, pngWithSize } from '../helpers/exif-jpeg.js';
import { fakeJpeg, postImage } from '../helpers/images.js';
import { useInProcessService, waitFor } from '../helpers/in-process.js';
import { gifZeroDimensions, pngHugeDimensions } from '../helpers/poison-images.js';

describe('image metadata', () => {
  const ctx = useInProcessService({ UPLOAD_BWLIMIT: '1KB', UPLOAD_CONCURRENCY: '1', SPOOL_MIN_FREE_BYTES: '0', SHUTDOWN_GRACE_MS: '100' });

  const statusOf = async (id: string): Promise<Record<string, unknown>> => waitFor(async () => {
    const body = (await (await fetch(`${ctx.svc.baseUrl}/images/${id}/status`, { headers: ctx.svc.admin })).json()) as Record<string, unknown>;
    return body['metadata'] === null ? undefined : body;
  }, 10_000, `metadata of ${id}`);

  it('stores camera, size, GPS, capture time (as written and in UTC) and orientation from EXIF', async () => {
    const image = exifJpeg({
      make: 'Acme', model: 'Cam 3000', orientation: 6, dateTimeOriginal: '2026:11:23 10:20:30', offsetTimeOriginal: '+02:00',
      latitude: 52.5201, longitude: -13.4049, width: 1920, height: 1080,
    });
    const res = await postImage(ctx.svc.baseUrl, 'cam-exif', image);
    expect(res.status).toBe(202);
    const status = await statusOf(res.body['id'] as string);
    expect(status['metadata']).toEqual({
      format: 'jpeg', width: 1920, height: 1080, camera_make: 'Acme', camera_model: 'Cam 3000',
      gps: { latitude: 52.5201, longitude: -13.4049 },
      captured_at: '2026-11-23T10:20:30', captured_at_utc: '2026-11-23T08:20:30.000Z', orientation: 6,
    });
  });

  it('gives nulls, never an error, for images without EXIF, and takes the size from the format header', async () => {
    const png = await postImage(ctx.svc.baseUrl, 'cam-png', pngWithSize(300, 200), 'a.png');
    expect(png.status).toBe(202);
    expect((await statusOf(png.body['id'] as string))['metadata']).toEqual({
      format: 'png', width: 300, height: 200, camera_make: null, camera_model: null, gps: null,
      captured_at: null, captured_at_utc: null, orientation: null,
    });
    const noOffset = await postImage(ctx.svc.baseUrl, 'cam-local', exifJpeg({ model: 'X1', dateTimeOriginal: '2025:01:02 03:04:05', width: 10, height: 20 }));
    expect((await statusOf(noOffset.body['id'] as string))['metadata']).toMatchObject({ camera_model: 'X1', captured_at: '2025-01-02T03:04:05', captured_at_utc: null, width: 10, height: 20 });
  });

  it('accepts an image whose EXIF is corrupt and records nulls for it', async () => {
    const image = exifJpeg({ make: 'Acme', model: 'Broken', width: 64, height: 48 });
    // Break the TIFF header inside APP1 (after "Exif\0\0"): byte order marker and IFD offset become garbage.
    const at = image.indexOf(Buffer.from('Exif\0\0', 'latin1')) + 6;
    image.fill(0x5a, at, at + 8);
    const res = await postImage(ctx.svc.baseUrl, 'cam-broken', image);
    expect(res.status).toBe(202);
    expect((await statusOf(res.body['id'] as string))['metadata']).toMatchObject({ format: 'jpeg', camera_make: null, camera_model: null, width: 64, height: 48 });
    const plain = await postImage(ctx.svc.baseUrl, 'cam-plain', fakeJpeg(5000));
    expect(plain.status).toBe(202);
    expect((await statusOf(plain.body['id'] as string))['metadata']).toMatchObject({ format: 'jpeg', camera_model: null });
  });

  it('stores a size no image has as unknown: a PNG claiming 4294967295 x 4294967295, a 0 x 0 GIF', async () => {
    for (const [device, image, name] of [['cam-huge', pngHugeDimensions(), 'huge.png'], ['cam-zero', gifZeroDimensions(), 'zero.gif']] as const) {
      const res = await postImage(ctx.svc.baseUrl, device, image, name);
      expect(res.status).toBe(202);
      const status = await statusOf(res.body['id'] as string);
      expect(status).toMatchObject({ metadata_state: 'done', metadata_error: null, metadata: { width: null, height: null } });
    }
  });
});
