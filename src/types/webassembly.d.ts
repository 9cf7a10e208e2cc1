/** The part of the WebAssembly JS API that src/spool/staging.ts uses (TypeScript's libs declare it only with "dom"). */
declare namespace WebAssembly {
  interface MemoryDescriptor {
    initial: number;
    maximum?: number;
    shared?: boolean;
  }
  class Memory {
    constructor(descriptor: MemoryDescriptor);
    /** A SharedArrayBuffer for a shared memory; a new object with the new length after grow(). */
    readonly buffer: ArrayBuffer | SharedArrayBuffer;
    /** Grows by `delta` 64 KiB pages; returns the previous size in pages. */
    grow(delta: number): number;
  }
}
