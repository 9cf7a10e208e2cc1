import { execFile } from 'node:child_process';

export interface CurlAnswer {
  status: number;
  body: Record<string, unknown>;
  retryAfter: string | null;
}

/** POST /image with curl's multipart form (`-F`), as a shell-scripted device does: device_id, then the image file. */
export function curlPostImage(baseUrl: string, deviceId: string, imagePath: string, timeoutMs = 30_000): Promise<CurlAnswer> {
  const args = ['-sS', '-o', '-', '-w', '\n%{http_code}\n%header{retry-after}', '-F', `device_id=${deviceId}`, '-F', `image=@${imagePath};type=image/jpeg`, `${baseUrl}/image`];
  return new Promise((resolve, reject) => {
    execFile('curl', args, { encoding: 'utf8', timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`curl failed: ${err.message} ${stderr}`));
      const lines = stdout.split('\n');
      const retryAfter = lines.pop() ?? '';
      const status = Number(lines.pop());
      resolve({ status, body: JSON.parse(lines.join('\n')) as Record<string, unknown>, retryAfter: retryAfter === '' ? null : retryAfter });
    });
  });
}
