import { patchedBuild, type Patch, type PatchedBuild } from '../helpers/patched-build.js';

/**
 * Builds with one durability step broken, by a string patch of the compiled JS in a copy of the package
 * (test/helpers/patched-build.ts; src/ is not touched). A patch point that
 * does not occur exactly once fails loudly, so a change in src/ can never leave an unbroken "broken" build.
 */
export const BROKEN_BUILDS: Record<string, { what: string; patches: Patch[]; /** Every cut during ingest loses receipts (else it depends on timing). */ certain: boolean }> = {
  'no-file-fsync': {
    what: 'the image file is never fsynced before its rename',
    certain: true,
    patches: [{ file: 'dist/src/spool/store.js', from: 'async syncFile(handle) {\n        if (!this.fsync)', to: 'async syncFile(handle) {\n        if (true)' }],
  },
  'no-dir-fsync': {
    what: 'images/ is not fsynced after the rename',
    certain: true,
    patches: [{ file: 'dist/src/spool/store.js', from: 'if (this.fsync)\n                await this.dirSync.sync();', to: 'if (false)\n                await this.dirSync.sync();' }],
  },
  'sync-normal': {
    what: 'the ledger runs with synchronous=NORMAL: only WalSync, no commit of SQLite\'s own, syncs the WAL',
    certain: false,
    patches: [
      { file: 'dist/src/ledger/open.js', from: "db.pragma('synchronous = FULL');", to: "db.pragma('synchronous = NORMAL');" },
      { file: 'dist/src/ledger/open.js', from: 'sync !== 2', to: 'sync !== 1' },
    ],
  },
  'no-wal-sync': {
    what: 'WalSync\'s fdatasync of the WAL does nothing (ingest commits are never synced by it)',
    certain: false,
    patches: [{ file: 'dist/src/ledger/wal-sync.js', from: 'datasync = (file) => file.datasync()', to: 'datasync = (file) => Promise.resolve()' }],
  },
  'ack-before-wal-sync': {
    what: 'the group committer answers as the transaction commits, before its WAL sync',
    certain: false,
    patches: [{ file: 'dist/src/ledger/group-commit.js', from: 'this.durable().then(answer, (err) => {', to: 'answer();\n        this.durable().then(() => undefined, (err) => {' }],
  },
};

/** A patched copy of the built package; returns its bin/image-spool.cjs and a cleanup. */
export async function buildBroken(name: string): Promise<PatchedBuild> {
  const variant = BROKEN_BUILDS[name];
  if (!variant) throw new Error(`unknown broken build ${name}; known: ${Object.keys(BROKEN_BUILDS).join(', ')}`);
  return patchedBuild(`broken-${name}`, variant.patches);
}
