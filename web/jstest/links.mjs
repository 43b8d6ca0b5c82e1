// links.mjs FILE: FILE is a JSON array of {value, base, want}, Link field
// values that mercure.DiscoveryLink wrote among others and the hubs they
// advertise; mercureLinks must read each the same. web's
// TestNodeDiscoveryLinkMatchesGo writes FILE.
import { readFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { mercureLinks } from '../static/ssehub.js';

const cases = JSON.parse(readFileSync(process.argv[2], 'utf8'));
let failed = 0;
for (const c of cases) {
  const got = mercureLinks(c.value, c.base);
  if (!isDeepStrictEqual(got, c.want)) {
    failed++;
    if (failed <= 10) console.error(`${JSON.stringify(c.value)}:\n  mercureLinks ${JSON.stringify(got)}\n  want         ${JSON.stringify(c.want)}`);
  }
}
console.log(`${cases.length - failed} of ${cases.length} Link values read as mercure.DiscoveryLink wrote them`);
process.exit(failed ? 1 : 0);
