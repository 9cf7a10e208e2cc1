/** Made-up values the OpenAPI examples share: ids, hashes and links that look real and open nothing. */
export const EXAMPLE_ID = '01M84CWPD0SMD5ZBY79VQQHV2V';
export const EXAMPLE_SHA = '81fc2c2d2b0f6a3e5e7f0d9c8b6a5f4e3d2c1b0a99887766554433221100aabb';
export const EXAMPLE_RECEIPT = { id: EXAMPLE_ID, device_id: 'device_1', sha256: EXAMPLE_SHA, bytes: 300004, content_type: 'image/jpeg', status: 'queued' } as const;
export const EXAMPLE_DUPLICATE = { ...EXAMPLE_RECEIPT, id: '01M84CWQ3T9J1W6K2YB8E0RZXA', device_id: 'device_2', duplicate: true, duplicate_of: EXAMPLE_ID } as const;
export const EXAMPLE_LINK = {
  token_id: '3f9c01a2b7de', device_id: 'kiosk-1', max_uploads: 20, uploads_used: 3, expires_at: '2026-11-25T10:00:00.000Z',
  created_at: '2026-11-23T10:00:00.000Z', revoked: false, revoked_at: null, state: 'active',
} as const;

/** 30 UTC days from 2026-10-25, each with `images` and `bytes` of ~4 MB photos. */
export function exampleDays(images: (day: number) => number): Array<{ date: string; images: number; bytes: number }> {
  return Array.from({ length: 30 }, (_, i) => ({
    date: new Date(Date.UTC(2026, 9, 25) + i * 86_400_000).toISOString().slice(0, 10), images: images(i), bytes: images(i) * 4_000_000,
  }));
}
