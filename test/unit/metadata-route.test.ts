import { describe, expect, it } from 'vitest';
import { metadataRoute } from '../../src/meta/metadata-route.js';
import type { ImageFormat } from '../../src/meta/sniff.js';
import type { Logger } from '../../src/log.js';

const silent = { debug: () => undefined } as unknown as Logger;

describe('metadataRoute: only formats the extractor parses reach it', () => {
  it.each<ImageFormat['name']>(['jpeg', 'png', 'webp', 'gif', 'tiff', 'heic'])('%s goes to the extractor', (format) => {
    const enqueued: string[] = [];
    const recorded: string[] = [];
    metadataRoute({ enqueue: (id) => enqueued.push(id), record: (id) => recorded.push(id), log: silent })('img-1', 'images/img-1.x', format);
    expect({ enqueued, recorded }).toEqual({ enqueued: ['img-1'], recorded: [] });
  });

  it.each<ImageFormat['name']>(['avif', 'jxl', 'bmp', 'binary'])('%s is recorded as carrying no metadata, never extracted', (format) => {
    const enqueued: string[] = [];
    const recorded: Array<[string, unknown]> = [];
    metadataRoute({ enqueue: (id) => enqueued.push(id), record: (id, meta) => recorded.push([id, meta]), log: silent })('img-2', 'images/img-2.x', format);
    expect(enqueued).toEqual([]);
    expect(recorded).toEqual([['img-2', expect.objectContaining({ width: null, height: null, camera_model: null, captured_at: null })]]);
  });

  it('a ledger that cannot record it does not fail the acknowledged image', () => {
    const route = metadataRoute({ enqueue: () => undefined, record: () => { throw new Error('SQLITE_BUSY'); }, log: silent });
    expect(() => route('img-3', 'images/img-3.bin', 'binary')).not.toThrow();
  });
});
