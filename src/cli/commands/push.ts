/** A host and its team server: `join` (enrol this ledger) and `push` (send it, by hand or to a file). */
import { Option, type Command } from 'commander';
import { FfauditError } from '../../core/errors.js';
import { withLedger, type CommandContext, type GlobalOptions } from '../context.js';
import { readSmall } from '../inputs.js';
import { pathFrom, type Io } from '../io.js';
import { parseIndex } from '../arguments.js';
import { plural } from '../format.js';
import { EXIT_QUORUM } from '../exit.js';
import type { PushReport } from '../../push/client.js';
import type { QuorumOutcome, WitnessOutcome } from '../../push/witnesses.js';

/** The join token, from --token-file or standard input (never from the command line, where `ps` would show it). */
async function readToken(io: Io, file: string | undefined): Promise<string> {
  let text: string;
  if (file !== undefined) {
    text = readSmall(pathFrom(io, file), 'the token file', file).toString('utf8');
  } else {
    const chunks: Buffer[] = [];
    let n = 0;
    for await (const c of io.stdin) {
      n += c.length;
      if (n > 8192) throw new FfauditError('USAGE', 'standard input holds more than a join token');
      chunks.push(Buffer.from(c));
    }
    text = Buffer.concat(chunks).toString('utf8');
  }
  const token = text.trim();
  if (token === '') throw new FfauditError('USAGE', `no join token ${file !== undefined ? `in ${file}` : 'on standard input'} (ffaudit serve hosts add NAME prints one)`);
  return token;
}

const kib = (n: number) => (n < 1024 ? `${n} bytes` : n < 1024 * 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1024 / 1024).toFixed(1)} MiB`);

/** What a witness did with a push, in a few words: cosigned size N / down (why) / refused (status: what it said) / bad cosignature. */
function witnessState(w: WitnessOutcome): string {
  switch (w.status) {
    case 'cosigned':
      return `cosigned size ${w.cosigned ?? 0}`;
    case 'down':
      return `down (${w.detail ?? 'no answer'})`;
    case 'refused':
      return `refused (${w.detail ?? (w.httpStatus !== undefined ? String(w.httpStatus) : 'no reason')})${w.cosigned !== null ? `; it last cosigned size ${w.cosigned}` : ''}`;
    case 'bad-cosignature':
      return `bad cosignature (${w.detail ?? 'it does not verify'})`;
  }
}

function quorumState(q: QuorumOutcome): string {
  return `${q.rule}: ${q.met ? 'met' : 'NOT met'} for size ${q.size}${q.witnessed.length > 0 ? ` (cosigned by ${q.witnessed.join(', ')})` : ''}${q.missing.length > 0 ? `; missing ${q.missing.join(', ')}` : ''}`;
}

export function registerPushCommands(program: Command, { io, setStatus }: CommandContext): void {
  const g = () => program.opts<GlobalOptions>();
  const out = io.out;

  program
    .command('join')
    .description("enrol this ledger with a team server: the one-time token is read from standard input (or --token-file), never from the command line; the server's witness and mirror keys go into the ledger's config")
    .argument('<url>', 'the team server (https://SERVER)')
    .option('--token-file <file>', 'read the token from this file instead of standard input')
    .action(async (url: string, o: { tokenFile?: string }) => {
      const token = await readToken(io, o.tokenFile);
      const { joinServer } = await import('../../push/join.js');
      return withLedger(g(), io, async (l) => {
        const before = l.server()?.config.url;
        const s = await joinServer(l, url, token);
        if (before !== undefined && before !== s.url) io.err(`ffaudit: this ledger was joined to ${before}: it now pushes to ${s.url} (cosignatures kept from before stay in the ledger)\n`);
        out(`joined ${s.url} as host ${s.host}\nlog      ${l.origin}\nwitness  ${s.witness}\nmirror   ${s.mirror}\n${s.witnessMlDsa44 ? `witness_ml_dsa44 ${s.witnessMlDsa44}\n` : ''}`);
      });
    });

  program
    .command('push')
    .description("send the ledger to its team server now (the checkpoint, the entries and blobs it lacks) and keep the cosignatures; or, with --to, write what would be sent into a file for a server with no network")
    .option('--to <file>', 'write the push into FILE (ffaudit-push/v1) for `ffaudit serve import` instead of sending it')
    .option('--since <size>', 'with --to: the tree size the server already holds (default: the largest its witness cosigned, as the ledger knows)')
    .option('--json', 'print what was sent as JSON')
    // Used by the push started after each run: quiet when another push is running, lines for push.log.
    .addOption(new Option('--background').hideHelp())
    .action(async (o: { to?: string; since?: string; json?: boolean; background?: boolean }) => {
      if (o.since !== undefined && o.to === undefined) throw new FfauditError('USAGE', '--since applies to --to FILE only (a push asks the server what it holds)');
      if (o.to !== undefined) {
        const { writePushFile } = await import('../../push/to-file.js');
        const since = o.since === undefined ? undefined : parseIndex(o.since, '--since');
        return withLedger(g(), io, (l) => {
          const s = writePushFile(l, pathFrom(io, o.to!), { since });
          out(
            o.json
              ? `${JSON.stringify({ file: o.to, old_size: s.oldSize, size: s.size, entries: s.entries, requests: s.requests, blobs: s.blobs, bytes: s.bytes })}\n`
              : `wrote ${o.to}: the checkpoint at size ${s.size} (from ${s.oldSize}), ${plural(s.entries, 'entry', 'entries')} in ${plural(s.requests, 'add-entries record')}, ${plural(s.blobs, 'blob')}, ${kib(s.bytes)}\n`,
          );
        });
      }
      const [{ pushLedger, PushFailed }, { acquirePushLock }] = await Promise.all([import('../../push/client.js'), import('../../push/state.js')]);
      return withLedger(g(), io, async (l) => {
        let release: () => void;
        try {
          release = acquirePushLock(l.dir);
        } catch (e) {
          if (o.background && e instanceof FfauditError && e.code === 'BUSY') return; // that push takes what this one would
          throw e;
        }
        const stamp = () => new Date().toISOString();
        // The ledger's TSA schedule runs with its pushes (a host has no daemon), after the push and whatever it did.
        const timestamps = async () => (await import('../../timestamp/ledger-stamps.js')).stampsForLedger(l);
        const report = (r: PushReport, stamped: readonly string[] = []) => {
          if (o.background) {
            const server = r.server === null ? [] : [r.stopped ?? `witness cosigned ${r.cosigned.witness ?? 'nothing'}, mirror ${r.cosigned.mirror ?? 'nothing'}`];
            const witnesses = r.witnesses.map((w) => `${w.name} ${witnessState(w)}`);
            io.err(`${stamp()} pushed size ${r.size}: ${[...server, ...witnesses, ...(r.quorum ? [quorumState(r.quorum)] : [])].join('; ')}\n`);
            for (const line of stamped) io.err(`${stamp()} ${line}\n`);
          } else if (o.json) {
            for (const line of stamped) io.err(`ffaudit: ${line}\n`);
            out(
              `${JSON.stringify({
                server: r.server,
                host: r.host,
                origin: r.origin,
                size: r.size,
                checkpoints: r.checkpoints.map((c) => ({ old_size: c.oldSize, size: c.size })),
                entries: r.entries,
                requests: r.requests,
                blobs: r.blobs,
                blob_bytes: r.blobBytes,
                missing_blobs: r.missingBlobs,
                cosigned: r.cosigned,
                stopped: r.stopped ?? null,
                witnesses: r.witnesses.map((w) => ({ name: w.name, url: w.url, team_server: w.teamServer, status: w.status, cosigned: w.cosigned, http_status: w.httpStatus ?? null, detail: w.detail ?? null })),
                quorum: r.quorum,
              })}\n`,
            );
          } else {
            const sent = r.checkpoints.length > 0 ? r.checkpoints.map((c) => `size ${c.size} (from ${c.oldSize})`).join(', ') : 'none (the witness had cosigned it)';
            const lines =
              r.server === null
                ? [`server      none (witnesses only)`, `checkpoint  ${r.size === 0 ? 'none: the ledger is empty' : `size ${r.size}`}`]
                : [
                    `server      ${r.server} (host ${r.host})`,
                    `checkpoint  ${r.size === 0 ? 'none: the ledger is empty' : sent}`,
                    `entries     ${r.entries} in ${plural(r.requests, 'add-entries request')}`,
                    `blobs       ${r.blobs} (${kib(r.blobBytes)})${r.missingBlobs.length > 0 ? `; ${r.missingBlobs.length} named by entries but missing from the ledger (run ffaudit verify)` : ''}`,
                    `cosigned    witness: ${r.cosigned.witness ?? 'nothing'}, mirror: ${r.cosigned.mirror ?? 'nothing'}`,
                  ];
            r.witnesses.forEach((w, i) => lines.push(`${i === 0 ? 'witnesses  ' : '           '} ${w.name} (${w.url}${w.teamServer ? ', the team server' : ''}): ${witnessState(w)}`));
            if (r.quorum) lines.push(`quorum      ${quorumState(r.quorum)}`);
            lines.push(...stamped);
            out(`${lines.join('\n')}\n`);
          }
        };
        try {
          // Nothing to push to, but a TSA: the push is its schedule alone (a run starts it in the background too).
          if (!l.server() && l.witnessSettings().witnesses.length === 0 && l.config.tsa !== undefined) {
            const stamped = await timestamps();
            if (o.background) for (const line of stamped) io.err(`${stamp()} ${line}\n`);
            else if (o.json) out(`${JSON.stringify({ server: null, witnesses: [], timestamps: stamped })}\n`);
            else out(`${(stamped.length > 0 ? stamped : ['timestamp: nothing due (no team server or witness to push to)']).join('\n')}\n`);
            return;
          }
          const r = await pushLedger(l, o.background ? { log: (line) => io.err(`${stamp()} ${line}\n`) } : {});
          report(r, await timestamps());
          if (r.stopped) {
            io.err(`ffaudit: ${r.stopped}\n`);
            setStatus(2);
          } else if (r.quorum && !r.quorum.met) {
            io.err(`ffaudit: the witness quorum (${r.quorum.rule}) is not met for the checkpoint of size ${r.quorum.size}: missing ${r.quorum.missing.join(', ')}\n`);
            setStatus(EXIT_QUORUM);
          }
        } catch (e) {
          // The team server failed after the witnesses were asked: what they did, then the server's error.
          if (e instanceof PushFailed) report(e.report);
          if (o.background) {
            io.err(`${stamp()} ${(e instanceof Error ? e.message : String(e)).split('\n')[0]}\n`);
            for (const line of await timestamps()) io.err(`${stamp()} ${line}\n`);
            setStatus(2);
            return;
          }
          throw e;
        } finally {
          release();
        }
      });
    });
}
