/** multipart/form-data bodies as lists of buffers (the image bytes are never copied), and HTTP/1.1 request heads. */
import { randomBytes } from 'node:crypto';

export interface Form {
  boundary: string;
  parts: Buffer[];
  length: number;
}

export interface FormOptions {
  /** Plain fields sent before device_id and the image, in order. */
  fields?: ReadonlyArray<readonly [string, string]>;
  imageType?: string;
  filename?: string;
  /** Leave out the closing boundary (a truncated form). */
  truncated?: boolean;
}

/** device_id, then the image as a file part. */
export function imageForm(deviceId: string, image: readonly Buffer[], o: FormOptions = {}): Form {
  const boundary = `hostile${randomBytes(8).toString('hex')}`;
  const field = ([name, value]: readonly [string, string]): string => `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
  const head = Buffer.from(
    [...(o.fields ?? []), ['device_id', deviceId] as const].map(field).join('') +
    `--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="${o.filename ?? 'photo.jpg'}"\r\n` +
    `Content-Type: ${o.imageType ?? 'image/jpeg'}\r\n\r\n`, 'latin1');
  const parts = [head, ...image, ...(o.truncated ? [] : [Buffer.from(`\r\n--${boundary}--\r\n`)])];
  return { boundary, parts, length: parts.reduce((n, p) => n + p.length, 0) };
}

/** A request head for the raw clients: `headers` in order, no normalising. */
export function requestHead(headers: ReadonlyArray<readonly [string, string]>, target = '/image'): Buffer {
  return Buffer.from(`POST ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\n${headers.map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`, 'latin1');
}
