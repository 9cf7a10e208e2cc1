import { SpoolError } from '../errors.js';
import { acceptedFormat, DEFAULT_FORMAT_POLICY, type FormatPolicy } from '../meta/format-policy.js';
import { SNIFF_BYTES, type ImageFormat } from '../meta/sniff.js';

/** What a sink learned about the bytes it wrote. */
export interface WrittenImage {
  bytes: number;
  format: ImageFormat;
  /** Present when the sink hashed the bytes as it wrote them (the O_DIRECT sink); else the file is read back. */
  sha256?: string;
}

/** Counts an image body against MAX_IMAGE_BYTES and recognises its format from its first bytes (IMAGE_FORMATS decides). */
export class ImageMeter {
  private count = 0;
  private format: ImageFormat | null = null;
  private head: Buffer = Buffer.alloc(0);

  constructor(private readonly maxBytes: number, private readonly formats: FormatPolicy = DEFAULT_FORMAT_POLICY) {}

  get bytes(): number {
    return this.count;
  }

  /** Throws as soon as the body is too large or is not an image. */
  take(chunk: Buffer): void {
    this.count += chunk.length;
    if (this.count > this.maxBytes) {
      throw new SpoolError('image_too_large', `image exceeds MAX_IMAGE_BYTES (${this.maxBytes} bytes)`);
    }
    if (!this.format) {
      this.head = Buffer.concat([this.head, chunk.subarray(0, SNIFF_BYTES)]);
      if (this.head.length >= SNIFF_BYTES) this.format = acceptedFormat(this.head, this.formats);
    }
  }

  /** The whole body has been taken. */
  finish(): WrittenImage {
    if (this.count === 0) throw new SpoolError('missing_image', 'the image part is empty');
    return { bytes: this.count, format: this.format ?? acceptedFormat(this.head, this.formats) };
  }
}

/** Where SpoolStore.receive streams a body: the O_DIRECT sink, or the page-cache one where O_DIRECT is unsupported. */
export interface ImageSink {
  /**
   * Takes the next chunk (kept uncopied until written); resolves when the sink can take another. The chunk
   * is the sink's from then on: the caller must not reuse or read its memory (stream chunks never are), as
   * the O_DIRECT sink frees it once copied (src/spool/release-chunk.ts).
   */
  write(chunk: Buffer): Promise<void>;
  /** Writes what is left; then the file holds the whole body. */
  end(): Promise<WrittenImage>;
  /** The body failed: release what the sink holds (after its last write has settled). */
  abort(): void;
}
