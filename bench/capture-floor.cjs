#!/usr/bin/env node
// The least a Node program can do to keep a durable, signed record of an FFmpeg run, as a baseline for
// capture-overhead.mjs: load node:crypto, node:child_process and better-sqlite3, commit one signed row (WAL,
// synchronous=FULL, as the ledger does), run FFmpeg with a debug-level FFREPORT and its stderr piped through, then
// read the report and commit a second signed row. No argument analysis, redaction, hashing of files, Merkle tree or
// checkpoint: what remains is what any audited run on Node pays.
//   node bench/capture-floor.cjs DIR ffmpeg ARGS…
'use strict';
const crypto = require('node:crypto');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const Database = require('better-sqlite3');

const dir = process.argv[2];
const args = process.argv.slice(process.argv.indexOf('ffmpeg') + 1);
const keyFile = path.join(dir, 'floor-key.pem');
if (!fs.existsSync(keyFile)) fs.writeFileSync(keyFile, crypto.generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }));
const key = crypto.createPrivateKey(fs.readFileSync(keyFile));
const db = new Database(path.join(dir, 'floor.db'));
db.pragma('journal_mode = WAL');
db.pragma('synchronous = FULL');
db.exec('CREATE TABLE IF NOT EXISTS runs (data BLOB, sig BLOB)');
const insert = db.prepare('INSERT INTO runs VALUES (?, ?)');
const record = (what) => {
  const data = Buffer.from(JSON.stringify(what));
  insert.run(data, crypto.sign(null, crypto.createHash('sha256').update(data).digest(), key));
};
record({ start: Date.now(), argv: args });
const report = path.join(dir, `floor-report-${process.pid}.log`);
const child = spawn('ffmpeg', args, { stdio: ['inherit', 'inherit', 'pipe'], env: { ...process.env, FFREPORT: `file=${report}:level=48` } });
child.stderr.on('data', (b) => process.stderr.write(b));
child.on('close', (code) => {
  const log = fs.readFileSync(report);
  fs.rmSync(report);
  record({ end: Date.now(), code, report: crypto.createHash('sha256').update(log).digest('hex') });
  db.close();
  process.exitCode = code ?? 1;
});
