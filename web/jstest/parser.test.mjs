// Tests of createParser against the Go parser's vectors, sse/testdata/decode.json:
// each case is fed whole, byte by byte, in random chunks, and split in two at
// every byte (so after every CR, before every LF, inside every UTF-8 sequence
// and inside the BOM), and must give what the Go parser gives.
// Run: node --test web/jstest (go test ./web runs it too).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createParser } from '../static/ssehub.js';

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
