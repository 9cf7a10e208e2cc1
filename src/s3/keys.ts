/**
 * `{prefix}{device_id}/{YYYY}/{MM}/{DD}/{id}.{ext}` by UTC receive date. Computed once at ingest and
 * stored in the row, so every retry and every post-crash resend writes the very same key.
 */
export function imageKey(prefix: string, deviceId: string, id: string, ext: string, receivedAt: Date): string {
  const yyyy = String(receivedAt.getUTCFullYear());
  const mm = String(receivedAt.getUTCMonth() + 1).padStart(2, '0');
  const dd = String(receivedAt.getUTCDate()).padStart(2, '0');
  return `${prefix}${deviceId}/${yyyy}/${mm}/${dd}/${id}.${ext}`;
}
