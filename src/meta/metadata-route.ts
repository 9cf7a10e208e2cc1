import type { Logger } from '../log.js';
import type { ImageMetadata } from './extract.js';
import { hasMetadataParser, type ImageFormat } from './sniff.js';

export interface MetadataRouteDeps {
  /** Hands an image to the extractor (MetadataWorker.enqueue). */
  enqueue: (id: string, relPath: string, format: ImageFormat['name']) => void;
  /** Records the image's metadata as extracted (ImageLedger.setMetadata). */
  record: (id: string, meta: ImageMetadata, at: Date) => void;
  log: Logger;
}

const NO_METADATA: ImageMetadata = Object.freeze({
  width: null, height: null, camera_make: null, camera_model: null, gps_lat: null, gps_lon: null,
  captured_at: null, captured_at_utc: null, orientation: null,
});

/**
 * Where a newly stored image goes for its metadata. Only formats the extractor parses reach it; the others
 * (AVIF, JPEG XL, BMP, and any bytes under IMAGE_FORMATS=any) are recorded at once as carrying none, so the
 * pending scan at the next start does not hand them to the extractor either.
 */
export function metadataRoute(deps: MetadataRouteDeps): (id: string, relPath: string, format: ImageFormat['name']) => void {
  return (id, relPath, format) => {
    if (hasMetadataParser(format)) {
      deps.enqueue(id, relPath, format);
      return;
    }
    try {
      deps.record(id, NO_METADATA, new Date());
    } catch (err) {
      // The image is acknowledged already: a busy ledger must not fail it. The next start retries the record.
      deps.log.debug({ id, err: (err as Error).message }, 'metadata not recorded');
    }
  };
}
