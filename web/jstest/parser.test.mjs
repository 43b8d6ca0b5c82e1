// Tests of createParser against the Go parser's vectors, sse/testdata/decode.json:
// each case is fed whole, byte by byte, in random chunks, and split in two at
// every byte (so after every CR, before every LF, inside every UTF-8 sequence
// and inside the BOM), and must give what the Go parser gives.
// Run: node --test web/jstest (go test ./web runs it too).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createParser, DEFAULT_MAX_EVENT_SIZE, EventTooLargeError } from '../static/ssehub.js';

const vectors = JSON.parse(readFileSync(new URL('../../sse/testdata/decode.json', import.meta.url), 'utf8'));

function bytesOf(v) {
  return v.inBase64 !== undefined ? new Uint8Array(Buffer.from(v.inBase64, 'base64')) : new TextEncoder().encode(v.in);
}

function run(v, chunks) {
  const events = [], retries = [];
  const p = createParser({
    lastEventId: v.startId ?? '',
    onEvent: (e) => events.push(e),
    onRetry: (ms) => retries.push(ms),
  });
  for (const c of chunks) p.feed(c);
  return { events, retries, lastEventId: p.lastEventId };
}

function check(v, chunks, how) {
  const got = run(v, chunks);
  assert.deepEqual(got, { events: v.events, retries: v.retries, lastEventId: v.lastEventId }, `${v.name} (${how})`);
}

// mulberry32: a seeded generator, so a failing split repeats.
function rng(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test('the vectors are there', () => {
  assert.ok(vectors.length >= 70, `${vectors.length} vectors`);
});

for (const v of vectors) {
  test(v.name, () => {
    const b = bytesOf(v);
    check(v, [b], 'whole');
    if (v.in !== undefined) check(v, [v.in], 'whole string');
    check(v, [...b].map((x) => Uint8Array.of(x)), 'byte by byte');
    for (let seed = 0; seed < 8; seed++) {
      const r = rng(seed), chunks = [];
      for (let i = 0; i < b.length;) {
        const n = 1 + Math.floor(r() * 16);
        chunks.push(b.subarray(i, i + n));
        i += n;
      }
      check(v, chunks, `random chunks, seed ${seed}`);
    }
    for (let i = 0; i <= b.length; i++) {
      check(v, [b.subarray(0, i), b.subarray(i)], `split at byte ${i}`);
    }
    // The string form split at every UTF-16 unit: a CRLF split, a
    // surrogate pair split, as text.
    if (v.in !== undefined) {
      for (let i = 0; i <= v.in.length; i++) {
        const a = v.in.slice(0, i), c = v.in.slice(i);
        // A lone surrogate is not text the parser can be given.
        if (/[\ud800-\udbff]$/.test(a)) continue;
        check(v, [a, c], `string split at ${i}`);
      }
    }
  });
}

test('the splits the issue names occur in the vectors', () => {
  // Every split point is tried above; this makes sure the vectors hold
  // each kind of point the issue names, so none is covered by accident.
  const kinds = { afterCR: 0, beforeLF: 0, insideUTF8: 0, insideBOM: 0 };
  for (const v of vectors) {
    const b = bytesOf(v);
    for (let i = 1; i < b.length; i++) {
      if (b[i - 1] === 0x0d) kinds.afterCR++;
      if (b[i] === 0x0a) kinds.beforeLF++;
      if (b[i - 1] >= 0xc2 && b[i] >= 0x80 && b[i] <= 0xbf) kinds.insideUTF8++;
      if (i <= 2 && b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf) kinds.insideBOM++;
    }
  }
  for (const [k, n] of Object.entries(kinds)) assert.ok(n > 0, `no split point ${k}`);
});

test('a CR ending a blank line dispatches without waiting for an LF', () => {
  const events = [];
  const p = createParser({ onEvent: (e) => events.push(e.data) });
  p.feed('data: a\r\r');
  assert.deepEqual(events, ['a']);
  p.feed('\ndata: b\n\n'); // the LF belongs to the CR before it
  assert.deepEqual(events, ['a', 'b']);
});

test('comments reach onComment', () => {
  const comments = [];
  const p = createParser({ onComment: (c) => comments.push(c) });
  p.feed(': ping\n:\n:x: y\n\n');
  assert.deepEqual(comments, [' ping', '', 'x: y']);
});

test('reset starts a new stream and keeps the last event ID', () => {
  const events = [];
  const p = createParser({ onEvent: (e) => events.push(e) });
  p.feed('id: 1\ndata: a\n\nid: 2\ndata: cut short');
  p.reset();
  // A new response: its BOM is dropped, the cut block is gone.
  p.feed(new Uint8Array([0xef, 0xbb, 0xbf, ...new TextEncoder().encode('data: b\n\n')]));
  assert.deepEqual(events, [
    { type: 'message', data: 'a', id: '1' },
    { type: 'message', data: 'b', id: '1' },
  ]);
  assert.equal(p.lastEventId, '1');
});

test('bytes of an unfinished sequence end before a string chunk', () => {
  const events = [];
  const p = createParser({ onEvent: (e) => events.push(e.data) });
  p.feed(Uint8Array.of(0x64, 0x61, 0x74, 0x61, 0x3a, 0x20, 0xe2, 0x82));
  p.feed('x\n\n');
  assert.deepEqual(events, ['\ufffdx']);
});

// maxEventSize: the cases of the Go parser's TestDecodeTooLarge and
// TestDecodeAtLimit (sse/decode_test.go), fed whole, byte by byte and split
// at every byte: the same events before the error, and the same error.
const tooLarge = [
  { name: 'line longer than limit', in: 'data: a\n\ndata: 0123456789\n\n', max: 10, want: ['a'], what: 'line' },
  { name: 'unterminated line longer than limit', in: 'data: 0123456789', max: 10, want: [], what: 'line' },
  { name: 'comment longer than limit', in: ': 0123456789\n', max: 10, want: [], what: 'line' },
  { name: 'data longer than limit across lines', in: 'data: 123\ndata: 456\ndata: 789\n\n', max: 10, want: [], what: 'data' },
  // Bytes, not UTF-16 units: 4 two-byte letters are 8 bytes.
  { name: 'a line of multi-byte text', in: 'data: éééé\n\n', max: 13, want: [], what: 'line' },
  // A leading BOM is not part of the first line.
  { name: 'a BOM does not count', in: '\ufeffdata: 1234\n\n', max: 10, want: ['1234'] },
  // Ill-formed bytes: a line counts them as they came (four bytes), the
  // data as their U+FFFDs (twelve), as the Go parser counts them.
  { name: 'ill-formed bytes in a line and in data', bytes: [...Buffer.from('data: '), 0xff, 0xff, 0xff, 0xff, 0x0a, 0x0a], max: 10, want: [], what: 'data' },
  { name: 'ill-formed bytes in a comment at the limit', bytes: [...Buffer.from(': '), ...Array(8).fill(0xff), ...Buffer.from('\ndata: ok\n\n')], max: 10, want: ['ok'] },
  { name: 'at the limit', in: 'data: 0123456789\n\ndata: 1234567\ndata: 12345678\n\n', max: 16, want: ['0123456789', '1234567\n12345678'] },
];

function feedAll(c, chunks) {
  const events = [];
  const p = createParser({ maxEventSize: c.max, onEvent: (e) => events.push(e.data) });
  let err;
  for (const chunk of chunks) {
    try {
      p.feed(chunk);
    } catch (e) {
      err = e;
      break;
    }
  }
  return { events, err, p };
}

for (const c of tooLarge) {
  test(`maxEventSize: ${c.name}`, () => {
    const b = c.bytes ? Uint8Array.from(c.bytes) : new TextEncoder().encode(c.in);
    const splits = [[b], [...b].map((x) => Uint8Array.of(x))];
    if (c.in !== undefined) splits.push([c.in]);
    for (let i = 0; i <= b.length; i++) splits.push([b.subarray(0, i), b.subarray(i)]);
    for (const [k, chunks] of splits.entries()) {
      const { events, err, p } = feedAll(c, chunks);
      assert.deepEqual(events, c.want, `split ${k}`);
      if (!c.what) {
        assert.equal(err, undefined, `split ${k}`);
        continue;
      }
      assert.ok(err instanceof EventTooLargeError, `split ${k}: ${err}`);
      assert.equal(err.what, c.what);
      assert.equal(err.message, `sse: event too large: ${c.what} longer than ${c.max} bytes`);
      // Sticky, as the Go decoder's error: the same error again.
      assert.throws(() => p.feed('data: x\n\n'), (e) => e === err);
    }
  });
}

test('maxEventSize: reset starts a stream with no error', () => {
  const events = [];
  const p = createParser({ maxEventSize: 10, onEvent: (e) => events.push(e.data) });
  assert.throws(() => p.feed('data: 0123456789\n'), EventTooLargeError);
  p.reset();
  p.feed('data: ok\n\n');
  assert.deepEqual(events, ['ok']);
});

test('maxEventSize: the default is the Go parser\'s 16 MiB', () => {
  assert.equal(DEFAULT_MAX_EVENT_SIZE, 16 * 1024 * 1024);
  const big = 'x'.repeat(DEFAULT_MAX_EVENT_SIZE - 'data: '.length);
  const events = [];
  const p = createParser({ onEvent: (e) => events.push(e.data.length) });
  p.feed('data: ' + big + '\n\n');
  assert.deepEqual(events, [big.length]);
  assert.throws(() => p.feed('data: ' + big + 'x\n\n'), EventTooLargeError);
});
