/**
 * POST /image also takes `application/json` `{"device_id", "image": "<base64>"}` and answers exactly as the
 * multipart form does; the body is size-limited before decoding (by Content-Length, and while read).
 */
import { describe, expect, it } from 'vitest';
import { fakeJpeg, sha256Hex } from '../helpers/images.js';
import { useInProcessService, waitFor } from '../helpers/in-process.js';

describe('POST /image with a JSON body', () => {
  const ctx = useInProcessService({ MAX_IMAGE_BYTES: '300000', UPLOAD_BWLIMIT: '50MB', SPOOL_MIN_FREE_BYTES: '0' });
  const post = (body: string | ReadableStream, headers: Record<string, string> = {}) =>
    fetch(`${ctx.svc.baseUrl}/image`, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers }, duplex: 'half' } as RequestInit);

  it('stores and uploads the decoded bytes with the same receipt as multipart; a resend gets the first receipt', async () => {
    const image = fakeJpeg(200_000);
    const body = JSON.stringify({ device_id: 'cam-json', image: image.toString('base64') });
    const res = await post(body);
    expect(res.status).toBe(202);
    const receipt = (await res.json()) as { id: string };
    expect(receipt).toMatchObject({ device_id: 'cam-json', sha256: sha256Hex(image), bytes: image.length, content_type: 'image/jpeg', status: 'queued' });
    expect(res.headers.get('location')).toBe(`/images/${receipt.id}`);
    const blob = () => ctx.svc.service.ledger.resolve(receipt.id)?.blob;
    const row = await waitFor(() => (blob()?.state === 'uploaded' ? blob() : undefined), 10_000, 'upload');
    expect((await ctx.s3.getBytes(row.s3_key)).equals(image)).toBe(true);
    const again = await post(body);
    expect(again.status).toBe(200);
    expect(await again.json()).toMatchObject({ id: receipt.id, duplicate: true });
  });

  it('refuses a body larger than the base64 of MAX_IMAGE_BYTES: before reading (Content-Length) and while reading (chunked)', async () => {
    const big = JSON.stringify({ device_id: 'cam-json', image: fakeJpeg(400_000).toString('base64') });
    const declared = await post(big);
    expect(declared.status).toBe(413);
    expect(await declared.json()).toMatchObject({ error: { code: 'image_too_large' } });
    const chunked = new ReadableStream({
      start(controller) {
        for (let i = 0; i < big.length; i += 65_536) controller.enqueue(new TextEncoder().encode(big.slice(i, i + 65_536)));
        controller.close();
      },
    });
    const streamed = await post(chunked);
    expect(streamed.status).toBe(413);
    const justOver = JSON.stringify({ device_id: 'cam-json', image: fakeJpeg(300_001).toString('base64') });
    expect((await post(justOver)).status).toBe(413);
    expect((await ctx.svc.files()).filter((f) => f.endsWith('.part'))).toEqual([]);
  });
});
