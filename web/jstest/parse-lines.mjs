// parse-lines.mjs: for each line of standard input, a base64 stream,
// writes one line of JSON: what createParser makes of the stream
// ({events, retries, lastEventId}), fed whole; or {error} when feeding it a
// byte at a time gives something else. web's FuzzParserMatchesGo compares
// it with the Go parser.
import { createInterface } from 'node:readline';
import { isDeepStrictEqual } from 'node:util';
import { createParser } from '../static/ssehub.js';

function parse(chunks) {
  const events = [], retries = [];
  const p = createParser({ onEvent: (e) => events.push(e), onRetry: (ms) => retries.push(ms) });
  for (const c of chunks) p.feed(c);
  return { events, retries, lastEventId: p.lastEventId };
}

for await (const line of createInterface({ input: process.stdin })) {
  const b = new Uint8Array(Buffer.from(line, 'base64'));
  const whole = parse([b]);
  const bytewise = parse([...b].map((x) => Uint8Array.of(x)));
  process.stdout.write(JSON.stringify(isDeepStrictEqual(whole, bytewise) ? whole
    : { error: `whole ${JSON.stringify(whole)} but byte by byte ${JSON.stringify(bytewise)}` }) + '\n');
}
