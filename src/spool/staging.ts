/**
 * Page-aligned blocks for O_DIRECT writes (src/spool/direct-sink.ts). O_DIRECT needs the buffer's address,
 * the length and the file offset aligned to the device's logical block; a Node Buffer gives no alignment,
 * but a WebAssembly memory is mmap'd, so every 64 KiB page of it starts page-aligned. The memory is shared,
 * so the I/O thread can hash a block in place (src/background/io-thread.ts) while a thread-pool thread
 * writes it: no copy for either.
 *
 * Blocks are held only while one flush copies, writes and hashes them, so 16 serve any number of uploads:
 * the bodies' bytes wait, uncopied, in the sink until a block's worth has arrived.
 */
/**
 * 1 MiB: a 4 MB image is 4 writes, 4 hash jobs and 4 thread-pool round trips instead of 16 at 256 KiB.
 * Measured under 150 concurrent 4 MB uploads, alternating bursts against the same build with 256 KiB blocks:
 * 163 against 133 images/s, 9.1 against 10.7 ms of CPU per image; 2 MiB blocks gained nothing more
 * (docs/BENCHMARKS.md, issue 7). What it costs is memory: a body being read holds up to a block of
 * gathered chunks, and INGEST_READ_SLOTS (16) bodies are read at once.
 */
export const STAGING_BLOCK_BYTES = 1024 * 1024;
/** O_DIRECT lengths and offsets are rounded to this; 4 KiB covers 512-byte and 4Kn devices alike. */
export const DIRECT_ALIGN = 4096;
/** The unit a WebAssembly memory grows by; each page starts page-aligned. */
export const WASM_PAGE_BYTES = 64 * 1024;
const PAGES_PER_BLOCK = STAGING_BLOCK_BYTES / WASM_PAGE_BYTES;

export interface StagingBlock {
  /** Byte offset of the block in the pool's memory (what the I/O thread is told). */
  readonly offset: number;
  /** A view of the block's STAGING_BLOCK_BYTES bytes. */
  readonly buf: Buffer;
}

export class StagingPool {
  /** Shared with the I/O thread; it grows a block at a time and never moves, so views stay valid. */
  readonly memory: WebAssembly.Memory;
  private readonly free: StagingBlock[] = [];
  private readonly waiting: Array<(block: StagingBlock) => void> = [];
  private created = 0;

  /**
   * At most `maxBlocks` blocks ever exist: their memory stays resident once touched (shared memory cannot
   * shrink). 16 by default (16 MiB), as many as bodies are read at once under the default INGEST_READ_SLOTS;
   * the pool is not sized from that setting: with more read slots, a flush that finds no free block waits
   * for one (the bench runs measured 16 blocks with 16 slots).
   */
  constructor(readonly maxBlocks = 16) {
    if (!(Number.isInteger(maxBlocks) && maxBlocks >= 1)) throw new RangeError(`expected maxBlocks to be an integer >= 1, got ${maxBlocks}`);
    this.memory = new WebAssembly.Memory({ initial: 0, maximum: maxBlocks * PAGES_PER_BLOCK, shared: true });
  }

  /** Blocks created so far (their memory is resident). */
  get blocks(): number {
    return this.created;
  }

  /** A free block; when all `maxBlocks` are in use, the first block released (first come, first served). */
  acquire(): Promise<StagingBlock> {
    const block = this.free.pop() ?? this.grow();
    if (block) return Promise.resolve(block);
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  release(block: StagingBlock): void {
    const next = this.waiting.shift();
    if (next) next(block);
    else this.free.push(block);
  }

  private grow(): StagingBlock | null {
    if (this.created >= this.maxBlocks) return null;
    const offset = this.created * STAGING_BLOCK_BYTES;
    this.memory.grow(PAGES_PER_BLOCK);
    this.created++;
    return { offset, buf: Buffer.from(this.memory.buffer, offset, STAGING_BLOCK_BYTES) };
  }
}
