/**
 * The witnesses and quorum of a ledger's config: parsed strictly (one line naming the field at fault), managed by
 * `ffaudit witness add|remove|quorum|list` without hand-editing, and turned into exactly one c2sp.org/tlog-policy
 * (`ffaudit policy`) that core's policy parser reads back as the same witnesses and rule.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { formatCosignerVkey, makeCosigner } from '../core/cosignature.js';
import { FfauditError } from '../core/errors.js';
import { parseTlogPolicy, quorumMet } from '../core/tlog-policy.js';
import { runCliInProcess } from '../testing/cli.js';
import { cleanEnv, tempDir } from '../testing/fixtures.js';
import { policyText, witnessSettingsOf } from './witness-config.js';

const tmp = tempDir('witness-config');
after(tmp.cleanup);

const key = (name: string, fill: number) => formatCosignerVkey(name, makeCosigner(name, Buffer.alloc(32, fill)).publicKey);
const K1 = key('w1.example/witness', 1);
const K2 = key('w2.example/witness', 2);
const K3 = key('w3.example/witness', 3);
const three = [
  { name: 'w1', url: 'https://w1.example', vkey: K1 },
  { name: 'w2', url: 'https://w2.example/tlog/', vkey: K2 },
  { name: 'w3', url: 'http://127.0.0.1:8443', vkey: K3 },
];

function refused(config: Record<string, unknown>, message: string): void {
  assert.throws(
    () => witnessSettingsOf(config),
    (e: unknown) => e instanceof FfauditError && e.code === 'BAD_INPUT' && e.message === message,
  );
}

describe('config.json: witnesses and quorum', () => {
  it('reads the list and the quorum; URLs kept without a trailing slash; nothing listed is no witness and no quorum', () => {
    const s = witnessSettingsOf({ witnesses: three, quorum: 2 });
    assert.deepEqual(
      s.witnesses.map((w) => [w.name, w.url, w.verifier.name]),
      [
        ['w1', 'https://w1.example', 'w1.example/witness'],
        ['w2', 'https://w2.example/tlog', 'w2.example/witness'],
        ['w3', 'http://127.0.0.1:8443', 'w3.example/witness'],
      ],
    );
    assert.equal(s.quorum, 2);
    assert.deepEqual(witnessSettingsOf({}), { witnesses: [], quorum: undefined });
    assert.equal(witnessSettingsOf({ witnesses: three, quorum: 'all' }).quorum, 'all');
  });

  it('refuses, naming the field: a malformed list, entry, name, URL, key, duplicate, unknown field or quorum', () => {
    refused({ witnesses: {} }, 'config.json: witnesses: a list of {"name", "url", "vkey"}');
    refused({ witnesses: ['w1'] }, 'config.json: witnesses[0]: an object {"name", "url", "vkey"}');
    refused({ witnesses: [{ ...three[0], weight: 2 }] }, 'config.json: witnesses[0].weight: unknown field');
    refused({ witnesses: [{ ...three[0], name: 'w 1' }] }, "config.json: witnesses[0].name: letters, digits, '.', '_' and '-' only, at most 63, starting with a letter or digit");
    refused({ witnesses: [{ ...three[0], name: 'none' }] }, 'config.json: witnesses[0].name: "none" is reserved by the policy');
    refused({ witnesses: [{ ...three[0], name: 'witnesses' }] }, 'config.json: witnesses[0].name: "witnesses" is reserved by the policy');
    refused({ witnesses: [{ ...three[0], url: 'ftp://w1.example' }] }, 'config.json: witnesses[0].url: a witness is reached over https:// (or http://)');
    refused({ witnesses: [{ ...three[0], url: 'https://user:pw@w1.example' }] }, 'config.json: witnesses[0].url: no credentials, query or fragment');
    refused({ witnesses: [{ ...three[0], vkey: K1.replace(/\+[0-9a-f]{8}\+/, '+00000000+') }] }, 'config.json: witnesses[0].vkey: verifier key ID does not match the key');
    refused({ witnesses: [three[0], { ...three[1], name: 'w1' }] }, 'config.json: witnesses[1].name: "w1" is listed twice');
    refused({ witnesses: [three[0], { ...three[1], vkey: K1 }] }, 'config.json: witnesses[1].vkey: the same key as witness w1');
    refused({ witnesses: [three[0], { ...three[1], url: 'https://w1.example/' }] }, 'config.json: witnesses[1].url: the same URL as witness w1');
    refused({ witnesses: three, quorum: 4 }, 'config.json: quorum: "all", "any" or a number from 1 to 3 (the witnesses listed)');
    refused({ witnesses: three, quorum: '2' }, 'config.json: quorum: "all", "any" or a number from 1 to 3 (the witnesses listed)');
    refused({ witnesses: three, quorum: 0 }, 'config.json: quorum: "all", "any" or a number from 1 to 3 (the witnesses listed)');
    refused({ quorum: 1 }, 'config.json: quorum: set, but no witness is listed');
  });

  it('derives exactly one tlog-policy, which core reads back as the same witnesses, URLs and rule', () => {
    const logVkey = 'edit.example/ffaudit+01234567+AQ==';
    const s = witnessSettingsOf({ witnesses: three, quorum: 2 });
    const text = policyText(logVkey, 'edit.example/ffaudit', s);
    assert.equal(
      text,
      [
        "# c2sp.org/tlog-policy of the ffaudit log edit.example/ffaudit, derived from its ledger's config (ffaudit policy)",
        `log ${logVkey}`,
        `witness w1 ${K1} https://w1.example`,
        `witness w2 ${K2} https://w2.example/tlog`,
        `witness w3 ${K3} http://127.0.0.1:8443`,
        'group witnesses 2 w1 w2 w3',
        'quorum witnesses',
        '',
      ].join('\n'),
    );
    assert.equal(policyText(logVkey, 'o', witnessSettingsOf({ witnesses: three })).split('\n').slice(-2)[0], 'quorum none');
    assert.equal(policyText(logVkey, 'o', witnessSettingsOf({ witnesses: three, quorum: 'any' })).split('\n').slice(-3)[0], 'group witnesses any w1 w2 w3');
  });
});

describe('ffaudit witness and ffaudit policy', () => {
  const dir = join(tmp.dir, 'ledger');
  const run = (args: string[]) => runCliInProcess(['--ledger', dir, ...args], { env: cleanEnv() });

  it('adds, sets the quorum, lists, removes; the config holds exactly that; the policy printed reads back', async () => {
    assert.equal((await run(['init', '--origin', 'edit.example/ffaudit'])).status, 0);
    const vkey = (await run(['pubkey'])).stdout.trim();
    const added = await run(['witness', 'add', 'w1', 'https://w1.example/', K1]);
    assert.equal(added.status, 0, added.stderr);
    assert.equal(added.stdout, `witness w1 added: https://w1.example, key w1.example/witness+${K1.split('+')[1]!}\n1 witness; quorum: none (nothing enforced)\n`);
    for (const w of three.slice(1)) assert.equal((await run(['witness', 'add', w.name, w.url, w.vkey])).status, 0);
    const q = await run(['witness', 'quorum', '2']);
    assert.equal(q.stdout, '3 witnesses; quorum: 2 of w1, w2, w3\n');
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    assert.deepEqual(config.witnesses, [
      { name: 'w1', url: 'https://w1.example', vkey: K1 },
      { name: 'w2', url: 'https://w2.example/tlog', vkey: K2 },
      { name: 'w3', url: 'http://127.0.0.1:8443', vkey: K3 },
    ]);
    assert.equal(config.quorum, 2);
    const list = await run(['witness', 'list', '--json']);
    assert.deepEqual(JSON.parse(list.stdout), {
      witnesses: [
        { name: 'w1', url: 'https://w1.example', vkey: K1, team_server: false, cosigned: null },
        { name: 'w2', url: 'https://w2.example/tlog', vkey: K2, team_server: false, cosigned: null },
        { name: 'w3', url: 'http://127.0.0.1:8443', vkey: K3, team_server: false, cosigned: null },
      ],
      quorum: 2,
    });
    const policy = (await run(['policy'])).stdout;
    const parsed = parseTlogPolicy(Buffer.from(policy));
    assert.deepEqual([parsed.logs.map((l) => l.name), parsed.witnesses, parsed.quorum], [['edit.example/ffaudit'], ['w1', 'w2', 'w3'], 'witnesses']);
    assert.ok(policy.includes(`log ${vkey}\n`));
    assert.equal(quorumMet(parsed, new Set(['w1', 'w3'])), true);
    assert.equal(quorumMet(parsed, new Set(['w2'])), false);

    // A quorum that removing a witness would make impossible is refused; lowered first, the removal goes through.
    assert.equal((await run(['witness', 'quorum', 'all'])).stdout, '3 witnesses; quorum: all of w1, w2, w3\n');
    assert.equal((await run(['witness', 'quorum', '3'])).status, 0);
    const stuck = await run(['witness', 'remove', 'w3']);
    assert.deepEqual([stuck.status, stuck.stderr], [2, 'ffaudit: the quorum is 3: with 2 witnesses left it could never be met; lower it first (ffaudit witness quorum K)\n']);
    assert.equal((await run(['witness', 'quorum', '2'])).status, 0);
    assert.equal((await run(['witness', 'remove', 'w3'])).stdout, 'witness w3 removed\n2 witnesses; quorum: 2 of w1, w2\n');
    assert.equal((await run(['witness', 'quorum', 'none'])).stdout, '2 witnesses; quorum: none (nothing enforced)\n');
    assert.equal('quorum' in (JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as object), false);
  });

  it('refuses bad arguments in one line, exit 2, and leaves the config alone', async () => {
    const before = readFileSync(join(dir, 'config.json'), 'utf8');
    const cases: [string[], string][] = [
      [['witness', 'add', 'w1', 'https://other.example', K3], 'ffaudit: a witness named w1 is already listed (ffaudit witness remove w1 first)\n'],
      [['witness', 'add', 'w9', 'https://w9.example', K1], 'ffaudit: config.json: witnesses[2].vkey: the same key as witness w1\n'],
      [['witness', 'add', 'w9', 'not a url', K3], 'ffaudit: URL: not a URL (https://WITNESS)\n'],
      [['witness', 'add', 'w9', 'https://w9.example', 'garbage'], 'ffaudit: VKEY: a cosigner verifier key is name+keyid+key\n'],
      [['witness', 'quorum', '5'], 'ffaudit: K: "all", "any" or a number from 1 to 2 (the witnesses listed)\n'],
      [['witness', 'remove', 'w7'], 'ffaudit: no witness named "w7" (ffaudit witness list)\n'],
    ];
    for (const [args, stderr] of cases) {
      const r = await run(args);
      assert.deepEqual([r.status, r.stderr], [2, stderr], args.join(' '));
    }
    assert.equal(readFileSync(join(dir, 'config.json'), 'utf8'), before);
  });

  it('a hand-edited config that breaks the rules stops push, verify and policy with the field named (exit 2)', async () => {
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, quorum: 7 }));
    for (const args of [['push'], ['verify'], ['policy']]) {
      const r = await run(args);
      assert.deepEqual([r.status, r.stderr], [2, 'ffaudit: config.json: quorum: "all", "any" or a number from 1 to 2 (the witnesses listed)\n'], args.join(' '));
    }
  });
});
