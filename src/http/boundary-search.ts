/**
 * busboy finds multipart boundaries with streamsearch, a Boyer-Moore-Horspool search written in JavaScript:
 * 19% of the event loop's time under 150 concurrent 4 MB uploads (perf, docs/BENCHMARKS.md, issue 7). Here the
 * scan of a chunk for a whole boundary is one `Buffer.indexOf`, a native search; the rest (a boundary split
 * across chunks, the lookbehind, the callbacks) is streamsearch 1.1.0's own code (MIT, Brian White), run on the
 * same instance's state. busboy stays the parser. test/unit/boundary-search.test.ts checks that the callbacks
 * are the same as streamsearch's on random bodies cut at random places, and that the installed busboy takes
 * the patch (so an upgrade that changes its insides fails a test instead of silently losing the speed).
 */

type MatchCallback = (isMatch: boolean, data: Buffer | undefined, start: number, end: number, isDataSafe: boolean) => void;

/** The fields of a streamsearch (SBMH) instance this code reads and writes. */
interface Sbmh {
  maxMatches: number;
  matches: number;
  _cb: MatchCallback;
  _lookbehind: Buffer;
  _lookbehindSize: number;
  _needle: Buffer;
  _bufPos: number;
  _occ: number[];
  push: (chunk: Buffer | string, pos?: number) => number;
}

function isSbmh(value: unknown): value is Sbmh {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Partial<Record<keyof Sbmh, unknown>>;
  return typeof v.push === 'function' && typeof v._cb === 'function' && Buffer.isBuffer(v._needle) && Buffer.isBuffer(v._lookbehind) &&
    Array.isArray(v._occ) && typeof v._lookbehindSize === 'number' && typeof v._bufPos === 'number' && typeof v.matches === 'number';
}

/** Swaps the boundary search of a busboy multipart parser for the native one; false if busboy is not as expected. */
export function useNativeBoundarySearch(parser: unknown): boolean {
  const search = (parser as { _bparser?: unknown } | null)?._bparser;
  if (!isSbmh(search)) return false;
  patchSearch(search);
  return true;
}

/** Replaces `push` on one streamsearch instance (exported for the comparison test). */
export function patchSearch(self: Sbmh): void {
  self.push = (chunk, pos) => {
    const data = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk, 'latin1');
    let result: number | undefined;
    self._bufPos = pos ?? 0;
    while (result !== data.length && self.matches < self.maxMatches) result = feed(self, data);
    return result ?? 0;
  };
}

function feed(self: Sbmh, data: Buffer): number {
  const len = data.length;
  const needleLen = self._needle.length;
  const end = len - needleLen;
  let pos = -self._lookbehindSize;
  if (pos < 0) {
    const after = feedLookbehind(self, data, pos, end);
    if ('done' in after) return after.done;
    pos = after.pos;
  }
  pos += self._bufPos;
  if (pos <= end) {
    // The change: streamsearch walks here with Horspool skips in JavaScript.
    const found = data.indexOf(self._needle, pos);
    if (found !== -1) {
      ++self.matches;
      if (found > 0) self._cb(true, data, self._bufPos, found, true);
      else self._cb(true, undefined, 0, 0, true);
      return (self._bufPos = found + needleLen);
    }
    // No whole boundary starts before end + 1; a partial one can only start after it.
    pos = end + 1;
  }
  return feedTail(self, data, pos);
}

/**
 * streamsearch's handling of bytes kept from the previous chunk: `done` when this call is over, else the
 * position in `data` (>= 0, past positions its skips ruled out) where the search goes on.
 */
function feedLookbehind(self: Sbmh, data: Buffer, start: number, end: number): { done: number } | { pos: number } {
  const needle = self._needle;
  const lastNeedleCharPos = needle.length - 1;
  const lastNeedleChar = needle[lastNeedleCharPos];
  const lookbehind = self._lookbehind;
  const len = data.length;
  let pos = start;
  while (pos < 0 && pos <= end) {
    const nextPos = pos + lastNeedleCharPos;
    const ch = (nextPos < 0 ? lookbehind[self._lookbehindSize + nextPos] : data[nextPos]) as number;
    if (ch === lastNeedleChar && matchNeedle(self, data, pos, lastNeedleCharPos)) {
      self._lookbehindSize = 0;
      ++self.matches;
      if (pos > -self._lookbehindSize) self._cb(true, lookbehind, 0, self._lookbehindSize + pos, false);
      else self._cb(true, undefined, 0, 0, true);
      return { done: (self._bufPos = pos + needle.length) };
    }
    pos += self._occ[ch] as number;
  }
  while (pos < 0 && !matchNeedle(self, data, pos, len - pos)) ++pos;
  if (pos < 0) {
    const bytesToCutOff = self._lookbehindSize + pos;
    if (bytesToCutOff > 0) self._cb(false, lookbehind, 0, bytesToCutOff, false);
    self._lookbehindSize -= bytesToCutOff;
    lookbehind.copy(lookbehind, 0, bytesToCutOff, self._lookbehindSize);
    lookbehind.set(data, self._lookbehindSize);
    self._lookbehindSize += len;
    self._bufPos = len;
    return { done: len };
  }
  self._cb(false, lookbehind, 0, self._lookbehindSize, false);
  self._lookbehindSize = 0;
  return { pos };
}

/** streamsearch's search for a boundary cut off by the end of the chunk, from `start` on. */
function feedTail(self: Sbmh, data: Buffer, start: number): number {
  const needle = self._needle;
  const len = data.length;
  let pos = start;
  while (pos < len) {
    if (data[pos] !== needle[0] || !memcmp(data, pos, needle, 0, len - pos)) {
      ++pos;
      continue;
    }
    data.copy(self._lookbehind, 0, pos, len);
    self._lookbehindSize = len - pos;
    break;
  }
  if (pos > 0) self._cb(false, data, self._bufPos, pos < len ? pos : len, true);
  self._bufPos = len;
  return len;
}

function matchNeedle(self: Sbmh, data: Buffer, start: number, len: number): boolean {
  const lb = self._lookbehind;
  const lbSize = self._lookbehindSize;
  for (let i = 0, pos = start; i < len; ++i, ++pos) {
    const ch = pos < 0 ? lb[lbSize + pos] : data[pos];
    if (ch !== self._needle[i]) return false;
  }
  return true;
}

function memcmp(a: Buffer, aPos: number, b: Buffer, bPos: number, num: number): boolean {
  for (let i = 0; i < num; ++i) if (a[aPos + i] !== b[bPos + i]) return false;
  return true;
}
