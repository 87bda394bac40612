/** The ledger's own commands: init, note, checkpoint, pubkey, entry, proof, consistency, verify. */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { FfauditError } from '../../core/errors.js';
import type { CustodyNote, FileRecord } from '../../core/entry.js';
import { parseRedactionRules, redactField, redactFileRecords, redactText } from '../../redact/redact.js';
import { hashFile } from '../../capture/hash.js';
import { currentAuthor, nowRfc3339 } from '../../ledger/clock.js';
import { ffauditVersion } from '../../ledger/software.js';
import { Ledger } from '../../ledger/ledger.js';
import { resolveLedgerDir } from '../../ledger/location.js';
import { keyPathFrom, openLedger, type GlobalOptions } from '../context.js';
import { EXIT_INTEGRITY } from '../exit.js';
import { parseIndex } from '../arguments.js';
import { formatVerifyReport, progressBar } from '../format.js';

function out(text: string | Buffer): void {
  process.stdout.write(text);
}

export function registerLedgerCommands(program: Command, setStatus: (s: number) => void): void {
  const g = () => program.opts<GlobalOptions>();

  program
    .command('init')
    .description('create a ledger (never overwrites one)')
    .option('--origin <name>', 'the log origin line and key name (default: unique per ledger)')
    .action((o: { origin?: string }) => {
      const loc = resolveLedgerDir(g().ledger);
      const l = Ledger.init(loc.dir, { origin: o.origin, keyPath: keyPathFrom(g()) });
      out(`created ledger ${l.dir}\norigin ${l.origin}\nvkey ${l.vkey}\n`);
      l.close();
    });

  program
    .command('note')
    .description('append a custody note (received, viewed, handed over…), with the SHA-256 of each named file')
    .argument('<text>', 'what happened')
    .option('--file <path>', 'a file the note is about (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--actor <name>', 'who did it, as asserted by the caller (default: $FFAUDIT_ACTOR)')
    .option('--json', 'print the result as JSON')
    .action(async (text: string, o: { file: string[]; actor?: string; json?: boolean }) => {
      const files: FileRecord[] = [];
      for (const f of o.file) {
        const path = resolve(f);
        const d = await hashFile(path);
        files.push({ path, size: d.size, sha256: d.sha256 });
      }
      const l = openLedger(g());
      try {
        // A note is redacted as a run is: URL credentials, credential query parameters and the ledger's own patterns
        // (config.json "redact") never reach the log, whether in the text or in a file's name.
        const key = l.redactionKey();
        const extra = parseRedactionRules(l.config);
        const redacted = redactText(text, key, [], extra);
        const redactions = [...redacted.redactions.map((x) => ({ ...x, where: 'text' })), ...redactFileRecords(files, 'files', key, [], extra)];
        const by = currentAuthor(o.actor ?? process.env.FFAUDIT_ACTOR);
        if (by.asserted_actor !== undefined) {
          const actor = redactField(by.asserted_actor, 'by.asserted_actor', key, [], extra);
          by.asserted_actor = actor.value;
          redactions.push(...actor.redactions);
        }
        const entry: CustodyNote = { v: 1, type: 'custody.note', time: nowRfc3339(), by, ffaudit_version: ffauditVersion(), text: redacted.text, files };
        if (redactions.length > 0) entry.redactions = redactions;
        const r = l.append([entry]);
        out(o.json ? `${JSON.stringify({ index: r.indices[0], size: r.size })}\n` : `entry ${r.indices[0]}\n`);
      } finally {
        l.close();
      }
    });

  program
    .command('checkpoint')
    .description('print the latest signed checkpoint, byte-exact')
    .action(() => {
      const l = openLedger(g());
      try {
        out(l.checkpoint());
      } finally {
        l.close();
      }
    });

  program
    .command('reindex')
    .description("rebuild the search index from the entries (after verify reports index-mismatch); the log itself is not touched")
    .action(() => {
      const l = openLedger(g());
      try {
        out(`search index rebuilt from ${l.rebuildIndex()} entries\n`);
      } finally {
        l.close();
      }
    });

  program
    .command('pubkey')
    .description("print the log's verifier key (vkey)")
    .action(() => {
      const l = openLedger(g());
      try {
        out(`${l.vkey}\n`);
      } finally {
        l.close();
      }
    });

  program
    .command('entry')
    .description("print entry N (pretty JSON; --raw: the exact stored bytes)")
    .argument('<n>', 'entry index')
    .option('--raw', 'the exact stored bytes, nothing added')
    .action((n: string, o: { raw?: boolean }) => {
      const l = openLedger(g());
      try {
        const bytes = l.entry(parseIndex(n, 'N'));
        if (o.raw) out(bytes);
        else {
          let pretty: string;
          try {
            pretty = JSON.stringify(JSON.parse(bytes.toString('utf8')), null, 2);
          } catch {
            throw new FfauditError('INTEGRITY', `entry ${n} is not valid JSON (run ffaudit verify)`);
          }
          out(`${pretty}\n`);
        }
      } finally {
        l.close();
      }
    });

  program
    .command('proof')
    .description('print a c2sp.org/tlog-proof@v1 receipt for entry N against the latest checkpoint')
    .argument('<n>', 'entry index')
    .action((n: string) => {
      const l = openLedger(g());
      try {
        out(l.proof(parseIndex(n, 'N')));
      } finally {
        l.close();
      }
    });

  program
    .command('consistency')
    .description('print a consistency proof between tree sizes OLD and NEW (default: the latest size)')
    .argument('<old>', 'the older tree size')
    .argument('[new]', 'the newer tree size')
    .option('--json', 'print {"old_size","size","hashes"}')
    .action((oldText: string, newText: string | undefined, o: { json?: boolean }) => {
      const l = openLedger(g());
      try {
        const oldSize = parseIndex(oldText, 'OLD');
        const newSize = newText === undefined ? l.size() : parseIndex(newText, 'NEW');
        const hashes = l.consistency(oldSize, newSize).map((h) => h.toString('base64'));
        out(o.json ? `${JSON.stringify({ old_size: oldSize, size: newSize, hashes })}\n` : hashes.map((h) => `${h}\n`).join(''));
      } finally {
        l.close();
      }
    });

  program
    .command('verify')
    .description('check the whole ledger; exit 0 intact, 1 integrity failure, 2 could not run')
    .option('--trusted <file>', 'a checkpoint saved earlier: prove the log is an append-only extension of it')
    .option('--from <location>', 'verify an archived copy (s3://BUCKET/PREFIX or a directory) on its own, without a local ledger')
    .option('--pubkey <file>', 'with --from: the verifier key to check the archive against')
    .option('--endpoint <url>', 'S3 endpoint URL for an s3:// --from or --trusted on an S3-compatible server (default: $AWS_ENDPOINT_URL_S3, $AWS_ENDPOINT_URL; never the ledger\'s config), or for the archive the config names')
    .option('--no-archive', "without --trusted: do not check the ledger against the archive its config names (archive.to)")
    .option('--json', 'print {"ok","size","problems":[…]}')
    .action(async (o: { trusted?: string; from?: string; pubkey?: string; endpoint?: string; json?: boolean; archive: boolean }) => {
      if (o.from !== undefined) {
        const { verifyArchiveCommand } = await import('./archive.js');
        setStatus(await verifyArchiveCommand(o.from, { pubkey: o.pubkey, json: o.json, endpoint: o.endpoint }));
        return;
      }
      let trusted: string | undefined;
      const archive = await import('./archive.js');
      const archiveTrusted = o.trusted !== undefined && archive.isArchiveLocation(o.trusted);
      if (o.trusted !== undefined && archiveTrusted) {
        trusted = await archive.readArchiveCheckpoint(o.trusted, o.endpoint);
      } else if (o.trusted !== undefined) {
        try {
          trusted = readFileSync(o.trusted, 'utf8');
        } catch (e) {
          throw new FfauditError('IO', `cannot read the trusted checkpoint ${o.trusted}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
        }
      }
      const l = Ledger.open(resolveLedgerDir(g().ledger), { keyPath: keyPathFrom(g()) });
      try {
        // Without --trusted, the archive the ledger's config names is checked against by default (docs/archive.md).
        const configured = o.trusted === undefined && o.archive ? await archive.configuredArchiveCheckpoint(l, o.endpoint) : undefined;
        if (configured) trusted = configured.checkpoint;
        const bar = !o.json && process.stderr.isTTY ? progressBar('verifying') : undefined;
        const report = await l.verify({ trusted, onProgress: bar?.update });
        bar?.done();
        if ((archiveTrusted || configured) && trusted !== undefined) {
          const behind = archive.archiveLagProblems(l, trusted);
          report.problems.push(...behind);
          report.ok &&= behind.length === 0;
        }
        const against = configured ? `the archive ${configured.location} (named in the ledger's config)` : archiveTrusted ? `the archive ${o.trusted!}` : undefined;
        out(o.json ? `${JSON.stringify({ ok: report.ok, size: report.size, problems: report.problems })}\n` : formatVerifyReport(l, report, against));
        setStatus(report.ok ? 0 : EXIT_INTEGRITY);
      } finally {
        l.close();
      }
    });
}
