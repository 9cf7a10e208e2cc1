import { createHash, randomBytes } from 'node:crypto';

/** A JPEG-signed body of `bytes` random bytes: passes the magic-byte check, unique per call. */
export function fakeJpeg(bytes: number): Buffer {
  const body = randomBytes(Math.max(bytes, 16));
  body[0] = 0xff;
  body[1] = 0xd8;
  body[2] = 0xff;
  body[3] = 0xe0;
  return body;
}

export function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

export interface PostResult {
  status: number;
  body: Record<string, unknown>;
  headers: Headers;
}

/** POST /image as a device does (multipart with device_id then image). */
export async function postImage(baseUrl: string, deviceId: string | null, image: Buffer | string | null, filename = 'photo.jpg', headers: Record<string, string> = {}): Promise<PostResult> {
  const form = new FormData();
  if (deviceId !== null) form.append('device_id', deviceId);
  if (typeof image === 'string') form.append('image', image);
  else if (image !== null) form.append('image', new Blob([image]), filename);
  const res = await fetch(`${baseUrl}/image`, { method: 'POST', body: form, headers });
  return { status: res.status, body: (await res.json()) as Record<string, unknown>, headers: res.headers };
}
