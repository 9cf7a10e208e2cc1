import type { Db } from './open.js';

export interface RecordedPart {
  partNumber: number;
  etag: string;
  checksumSha256: string;
  bytes: number;
}

export interface MultipartState {
  uploadId: string;
  partSize: number;
  parts: Map<number, RecordedPart>;
}

/** The ledger's record of multipart uploads in progress: one per image, with the parts S3 acknowledged. */
export class MultipartLedger {
  private readonly stmts;

  constructor(private readonly db: Db) {
    this.stmts = {
      upload: db.prepare('SELECT upload_id, part_size FROM multipart_uploads WHERE image_id = ?'),
      parts: db.prepare('SELECT part_number, etag, checksum_sha256, bytes FROM multipart_parts WHERE image_id = ? ORDER BY part_number'),
      start: db.prepare('INSERT INTO multipart_uploads (image_id, upload_id, part_size, started_at) VALUES (?, ?, ?, ?)'),
      part: db.prepare(`INSERT INTO multipart_parts (image_id, part_number, etag, checksum_sha256, bytes) VALUES (?, ?, ?, ?, ?)
        ON CONFLICT (image_id, part_number) DO UPDATE SET etag = excluded.etag, checksum_sha256 = excluded.checksum_sha256, bytes = excluded.bytes`),
      forgetParts: db.prepare('DELETE FROM multipart_parts WHERE image_id = ?'),
      forgetUpload: db.prepare('DELETE FROM multipart_uploads WHERE image_id = ?'),
      all: db.prepare('SELECT image_id, upload_id FROM multipart_uploads'),
    };
  }

  get(imageId: string): MultipartState | undefined {
    const upload = this.stmts.upload.get(imageId) as { upload_id: string; part_size: number } | undefined;
    if (!upload) return undefined;
    const parts = new Map<number, RecordedPart>();
    for (const p of this.stmts.parts.all(imageId) as Array<{ part_number: number; etag: string; checksum_sha256: string; bytes: number }>) {
      parts.set(p.part_number, { partNumber: p.part_number, etag: p.etag, checksumSha256: p.checksum_sha256, bytes: p.bytes });
    }
    return { uploadId: upload.upload_id, partSize: upload.part_size, parts };
  }

  start(imageId: string, uploadId: string, partSize: number): void {
    this.stmts.start.run(imageId, uploadId, partSize, new Date().toISOString());
  }

  recordPart(imageId: string, part: RecordedPart): void {
    this.stmts.part.run(imageId, part.partNumber, part.etag, part.checksumSha256, part.bytes);
  }

  /** After completion or abort: nothing left to resume. */
  forget(imageId: string): void {
    this.db.transaction(() => {
      this.stmts.forgetParts.run(imageId);
      this.stmts.forgetUpload.run(imageId);
    })();
  }
}
