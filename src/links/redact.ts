/**
 * Upload link secrets travel in the path (`/u/{secret}`); everything that logs or echoes a path goes
 * through this, so a secret never reaches a log line. The whole segment after `/u/` is replaced, whatever
 * it holds (a mistyped secret is still most of a secret).
 */
export function redactPath(path: string): string {
  return path.replace(/^(\/+u\/+)[^/]*/i, '$1[redacted]');
}
