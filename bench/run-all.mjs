#!/usr/bin/env node
// `npm run bench`: every benchmark in turn, at the sizes its targets name (BENCHMARKS.md), one after another so
// that none shares the CPU with another. Takes the better part of an hour on a 2-core VM; run one script alone for a
// single figure. The archive benchmark needs an S3 server with Object Lock (FFAUDIT_TEST_S3_ENDPOINT and AWS
// credentials, see scripts/s3-test-server.sh) and is skipped without one. Needs `npm run build` first.
//   npm run bench [-- NAME…]   (NAME: a script's name without .mjs, e.g. capture-overhead)
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const scripts = ['capture-overhead', 'capture-hash', 'capture-large', 'capture-report-level', 'ledger', 'trace', 'bundle', 'archive', 'server', 'ml-dsa', 'search', 'web', 'live', 'witnesses', 'timestamp'];
const chosen = process.argv.slice(2);
const unknown = chosen.filter((n) => !scripts.includes(n));
if (unknown.length) {
  console.error(`unknown benchmark ${unknown.join(', ')} (choose from ${scripts.join(', ')})`);
  process.exit(2);
}
let failed = 0;
for (const name of chosen.length ? chosen : scripts) {
  if (name === 'archive' && !process.env.FFAUDIT_TEST_S3_ENDPOINT) {
    console.log(`\n## ${name}: skipped (no FFAUDIT_TEST_S3_ENDPOINT)`);
    continue;
  }
  console.log(`\n## ${name} (${new Date().toISOString()})`);
  const r = spawnSync(process.execPath, [fileURLToPath(new URL(`./${name}.mjs`, import.meta.url))], { stdio: 'inherit' });
  if (r.status !== 0) {
    failed++;
    console.log(`## ${name} failed (${r.signal ?? `exit ${r.status}`})`);
  }
}
process.exitCode = failed ? 1 : 0;
