// compare.mjs FILE: feeds every vector of FILE (the format of
// sse/testdata/decode.json, written by the Go parser from random streams in
// web's TestNodeParserMatchesGo) to createParser, whole and in random
// chunks, and exits 1 at the first case where the two parsers disagree.
import { readFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { createParser } from '../static/ssehub.js';

const vectors = JSON.parse(readFileSync(process.argv[2], 'utf8'));
let seed = 1;
const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296);

for (const [i, v] of vectors.entries()) {
  const b = new Uint8Array(Buffer.from(v.inBase64 ?? '', 'base64'));
  const want = { events: v.events, retries: v.retries, lastEventId: v.lastEventId };
  const splits = [[b]];
  const chunks = [];
  for (let j = 0; j < b.length;) {
    const n = 1 + Math.floor(rnd() * 5);
    chunks.push(b.subarray(j, j + n));
    j += n;
  }
  splits.push(chunks);
  for (const parts of splits) {
    const events = [], retries = [];
    const p = createParser({ onEvent: (e) => events.push(e), onRetry: (ms) => retries.push(ms) });
    for (const c of parts) p.feed(c);
    const got = { events, retries, lastEventId: p.lastEventId };
    if (!isDeepStrictEqual(got, want)) {
      console.log(`case ${i} (${parts.length} chunks): stream ${JSON.stringify(Buffer.from(b).toString('latin1'))}\n got ${JSON.stringify(got)}\nwant ${JSON.stringify(want)}`);
      process.exit(1);
    }
  }
}
console.log(`ok ${vectors.length}`);
