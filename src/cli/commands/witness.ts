/**
 * The witnesses a ledger asks for cosignatures and the quorum it needs of them (ledger/witness-config.ts), managed
 * without editing config.json by hand: `witness add|remove|list|quorum`, and `policy`, which prints the
 * c2sp.org/tlog-policy derived from them for `verify-bundle --policy` or `verify --policy`.
 */
import type { Command } from 'commander';
import { FfauditError } from '../../core/errors.js';
import type { Ledger } from '../../ledger/ledger.js';
import { checkWitnessName, parseQuorum, quorumRule, witnessUrl, witnessVkey, writeWitnessSettings, type Quorum } from '../../ledger/witness-config.js';
import { withLedger, type CommandContext, type GlobalOptions } from '../context.js';

/** The witness list of the config as it is written back (the parsed keys dropped). */
const plain = (l: Ledger) => l.witnessSettings().witnesses.map((w) => ({ name: w.name, url: w.url, vkey: w.vkey }));

export function registerWitnessCommands(program: Command, { io }: CommandContext): void {
  const g = () => program.opts<GlobalOptions>();
  const out = io.out;

  program
    .command('policy')
    .description("print the ledger's C2SP tlog-policy, derived from its config: its key, its witnesses (with their URLs) and the quorum; hand it to verify-bundle --policy")
    .action(() => withLedger(g(), io, (l) => void out(l.policyText())));

  const witness = program.command('witness').description('the witnesses this ledger asks for cosignatures at each push (c2sp.org/tlog-witness), and the quorum it needs of them');

  witness
    .command('add')
    .description("list a witness: its name (in the policy), its URL (the submission prefix add-checkpoint is sent below) and its cosigner key; the team server's witness may be listed by its key (ffaudit join printed it)")
    .argument('<name>', "the witness's name in the policy")
    .argument('<url>', 'its submission prefix: https://WITNESS')
    .argument('<vkey>', 'its cosigner verifier key (name+keyid+key)')
    .action((name: string, url: string, vkey: string) =>
      withLedger(g(), io, (l) => {
        checkWitnessName(name, 'NAME');
        const u = witnessUrl(url, 'URL');
        const v = witnessVkey(vkey, 'VKEY');
        const s = l.witnessSettings();
        if (s.witnesses.some((w) => w.name === name)) throw new FfauditError('USAGE', `a witness named ${name} is already listed (ffaudit witness remove ${name} first)`);
        writeWitnessSettings(l.dir, { witnesses: [...plain(l), { name, url: u, vkey: vkey.trim() }], quorum: s.quorum });
        const now = l.witnessSettings();
        out(`witness ${name} added: ${u}, key ${v.name}+${v.keyId.toString('hex')}\n${describe(now.witnesses.length, quorumRule(now))}\n`);
      }),
    );

  witness
    .command('remove')
    .description('stop asking a witness (the cosignatures it gave stay in the ledger)')
    .argument('<name>', "the witness's name")
    .action((name: string) =>
      withLedger(g(), io, (l) => {
        const s = l.witnessSettings();
        if (!s.witnesses.some((w) => w.name === name)) throw new FfauditError('NOT_FOUND', `no witness named ${JSON.stringify(name)} (ffaudit witness list)`);
        const left = plain(l).filter((w) => w.name !== name);
        if (typeof s.quorum === 'number' && s.quorum > left.length) {
          throw new FfauditError('USAGE', `the quorum is ${s.quorum}: with ${left.length} witness${left.length === 1 ? '' : 'es'} left it could never be met; lower it first (ffaudit witness quorum K)`);
        }
        writeWitnessSettings(l.dir, { witnesses: left, quorum: left.length === 0 ? undefined : s.quorum });
        const now = l.witnessSettings();
        out(`witness ${name} removed\n${describe(now.witnesses.length, quorumRule(now))}\n`);
      }),
    );

  witness
    .command('quorum')
    .description('how many of the listed witnesses must cosign: a number K, all, any, or none (nothing enforced)')
    .argument('<k>', 'K, all, any or none')
    .action((k: string) =>
      withLedger(g(), io, (l) => {
        const s = l.witnessSettings();
        const q: Quorum | undefined = k === 'none' ? undefined : parseQuorum(/^[0-9]{1,3}$/.test(k) ? Number(k) : k, s.witnesses.length, 'K');
        writeWitnessSettings(l.dir, { witnesses: plain(l), quorum: q });
        out(`${describe(s.witnesses.length, quorumRule({ ...s, quorum: q }))}\n`);
      }),
    );

  witness
    .command('list')
    .description('each witness with the largest checkpoint it has cosigned (as the ledger holds it), and the quorum')
    .option('--json', 'one JSON object: {"witnesses": [{"name","url","vkey","team_server","cosigned"}], "quorum"}')
    .action((o: { json?: boolean }) =>
      withLedger(g(), io, (l) => {
        const s = l.witnessSettings();
        const server = l.server();
        const rows = s.witnesses.map((w) => ({
          name: w.name,
          url: w.url,
          vkey: w.vkey,
          team_server: server !== undefined && server.witness.name === w.verifier.name && server.witness.publicKey.equals(w.verifier.publicKey),
          cosigned: l.lastCosigned(undefined, w.verifier.name)?.size ?? null,
        }));
        if (o.json) {
          out(`${JSON.stringify({ witnesses: rows, quorum: s.quorum ?? null })}\n`);
          return;
        }
        if (rows.length === 0) out('no witnesses (ffaudit witness add NAME URL VKEY)\n');
        for (const r of rows) out(`${r.name}  ${r.url}${r.team_server ? ' (the team server)' : ''}  cosigned ${r.cosigned ?? 'nothing yet'}  of ${l.size()}\n`);
        out(`${describe(rows.length, quorumRule(s))}\n`);
      }),
    );
}

function describe(n: number, rule: string | undefined): string {
  return `${n} witness${n === 1 ? '' : 'es'}; quorum: ${rule ?? 'none (nothing enforced)'}`;
}
