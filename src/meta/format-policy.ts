import { SpoolError } from '../errors.js';
import { BINARY, IMAGE_FORMAT_NAMES, sniffImage, type ImageFormat, type ImageFormatName } from './sniff.js';

/** IMAGE_FORMATS: which recognised formats are accepted at ingest, and whether any other bytes are too. */
export interface FormatPolicy {
  readonly accepted: ReadonlySet<ImageFormatName>;
  /** `any`: bytes that are no recognised image are accepted as application/octet-stream. */
  readonly anyBytes: boolean;
}

/** Every recognised image format; other bytes are refused (415 not_an_image). */
export const DEFAULT_FORMAT_POLICY: FormatPolicy = Object.freeze({ accepted: new Set(IMAGE_FORMAT_NAMES), anyBytes: false });

export const ANY_BYTES_POLICY: FormatPolicy = Object.freeze({ accepted: new Set(IMAGE_FORMAT_NAMES), anyBytes: true });

/**
 * What the first bytes of a body are stored as under `policy`; throws 415 not_an_image when refused. A
 * recognised image keeps its own type under `any` too: only unrecognised bytes become octet-stream.
 */
export function acceptedFormat(head: Uint8Array, policy: FormatPolicy): ImageFormat {
  const sniffed = sniffImage(head);
  if (sniffed && sniffed.name !== 'binary' && policy.accepted.has(sniffed.name)) return sniffed;
  if (policy.anyBytes) return BINARY;
  const allowed = [...policy.accepted].join(', ');
  const what = sniffed ? `a ${sniffed.name.toUpperCase()} image, which IMAGE_FORMATS does not accept` : 'not a recognised image';
  throw new SpoolError('not_an_image', `the image is ${what} (checked by its first bytes); accepted: ${allowed}`);
}
