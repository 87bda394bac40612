import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { FfauditError } from '../core/errors.js';
import { parseRedactionRules, redactArgv, redactFileRecords, redactionHmac, redactPath, redactText, REDACTED_PREFIX } from './redact.js';

const key = Buffer.alloc(32, 7);
const ph = (value: string) => `${REDACTED_PREFIX}${redactionHmac(key, value).slice(0, 12)}>`;

describe('redactArgv', () => {
  it('removes URL userinfo and keeps the rest of the URL byte for byte', () => {
    const r = redactArgv(['-i', 'rtmp://alice:s3cr%40t@live.example.com/app/stream', 'https://u:p@h.example/x.mp4', 'srt://h:9000?mode=caller&passphrase=longpassphrase1'], key);
    assert.deepEqual(r.argv, ['-i', `rtmp://${ph('alice:s3cr%40t')}@live.example.com/app/stream`, `https://${ph('u:p')}@h.example/x.mp4`, `srt://h:9000?mode=caller&passphrase=${ph('longpassphrase1')}`]);
    assert.deepEqual(r.redactions.map((x) => [x.where, x.kind]), [
      ['argv[1]', 'url-credentials'],
      ['argv[2]', 'url-credentials'],
      ['argv[3]', 'url-query:passphrase'],
    ]);
    // 'u:p' is too short to erase wherever it occurs in the log: the URL pattern finds it there.
    assert.deepEqual(new Set(r.secrets), new Set(['alice:s3cr%40t', 'longpassphrase1']));
    const log = redactText("Opening 'https://u:p@h.example/x.mp4?auth=1' for reading\nStream #0:1: Audio: 1 channel", key, r.secrets);
    assert.equal(log.text, `Opening 'https://${ph('u:p')}@h.example/x.mp4?auth=${ph('1')}' for reading\nStream #0:1: Audio: 1 channel`);
  });

  it('finds every userinfo up to the last @ of the authority, and librtmp passwords after a space', () => {
    const r = redactArgv(['x rtmp://u:p@h/a and https://h/x?y=1 and ftp://a@b@c/d 9://q@r', 'rtmp://h/app pubUser=me pubPasswd=pw123 live=1'], key);
    assert.equal(r.argv[0], `x rtmp://${ph('u:p')}@h/a and https://h/x?y=1 and ftp://${ph('a@b')}@c/d 9://q@r`);
    assert.equal(r.argv[1], `rtmp://h/app pubUser=me pubPasswd=${ph('pw123')} live=1`);
    assert.equal(redactArgv(['title pubPasswd=x'], key).argv[0], 'title pubPasswd=x');
  });

  it('redacts signed-URL and token parameters, keeping their names and the other parameters', () => {
    const url = 'https://b.s3.amazonaws.com/k.mp4?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20261128%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20261128T000000Z&X-Amz-Expires=300&X-Amz-SignedHeaders=host&X-Amz-Security-Token=FQoGZXIvYXdz&X-Amz-Signature=abcdef0123456789';
    const r = redactArgv(['-i', url, '-i', 'https://cdn/x.m3u8?Policy=eyJ&Signature=Zm9v&Key-Pair-Id=K2&token=t0k3n&sig=s1g&api_key=K3Y&foo=bar#frag'], key);
    assert.equal(r.argv[1], url.replace('AKIDEXAMPLE%2F20261128%2Fus-east-1%2Fs3%2Faws4_request', ph('AKIDEXAMPLE%2F20261128%2Fus-east-1%2Fs3%2Faws4_request')).replace('FQoGZXIvYXdz', ph('FQoGZXIvYXdz')).replace('abcdef0123456789', ph('abcdef0123456789')));
    assert.equal(r.argv[3], `https://cdn/x.m3u8?Policy=${ph('eyJ')}&Signature=${ph('Zm9v')}&Key-Pair-Id=${ph('K2')}&token=${ph('t0k3n')}&sig=${ph('s1g')}&api_key=${ph('K3Y')}&foo=bar#frag`);
    assert.ok(r.redactions.some((x) => x.kind === 'url-query:X-Amz-Signature'));
  });

  it('redacts the values of secret options whatever they look like, stream specifiers included', () => {
    const argv = ['-headers', 'Authorization: Bearer abc.def.ghi\r\nX-Trace: 1\r\n', '-cookies', 'sid=xyz; path=/', '-decryption_key:v', '-0011223344', '-passphrase', 'pp', '-encryption_key', '00112233445566778899aabbccddeeff', '-i', 'in.mp4', '-hls_key_info_file', 'key.info', '-key_file', 'k.pem', 'out.mp4'];
    const r = redactArgv(argv, key);
    assert.deepEqual(r.argv, ['-headers', ph(argv[1]!), '-cookies', ph(argv[3]!), '-decryption_key:v', ph('-0011223344'), '-passphrase', ph('pp'), '-encryption_key', ph(argv[9]!), '-i', 'in.mp4', '-hls_key_info_file', 'key.info', '-key_file', 'k.pem', 'out.mp4']);
    assert.deepEqual(r.redactions.map((x) => x.kind), ['option:headers', 'option:cookies', 'option:decryption_key', 'option:passphrase', 'option:encryption_key']);
    assert.deepEqual(r.redactions.map((x) => x.where), ['argv[1]', 'argv[3]', 'argv[5]', 'argv[7]', 'argv[9]']);
    // a credential header's value is a secret of its own; other headers are secret only as part of the whole.
    assert.ok(r.secrets.includes('Bearer abc.def.ghi'));
    assert.ok(!r.secrets.includes('1'));
  });

  it('keeps non-secret arguments byte for byte, non-ASCII and lone surrogates included', () => {
    const argv = ['-y', '-i', 'vidéo 日本 "q".mkv', '-metadata', 'title=key=value', '-vf', "drawtext=text='a?b&c=d'", 'file:\uD800x.mp4', 'out?token.mp4'];
    const r = redactArgv(argv, key);
    assert.deepEqual(r.argv, argv);
    assert.deepEqual(r.redactions, []);
  });

  it('applies configured patterns as whole-match redactions', () => {
    const rules = parseRedactionRules({ redact: [{ name: 'stream-key', pattern: 'live_[0-9a-z]{8,}' }] });
    const r = redactArgv(['-f', 'flv', 'rtmp://a.rtmp.example.com/live2/live_12345678abcd'], key, rules);
    assert.equal(r.argv[2], `rtmp://a.rtmp.example.com/live2/${ph('live_12345678abcd')}`);
    assert.deepEqual(r.redactions, [{ where: 'argv[2]', kind: 'pattern:stream-key', hmac: redactionHmac(key, 'live_12345678abcd') }]);
  });

  it('removes a secret from every other argument it stands in, and says which', () => {
    const r = redactArgv(['-i', '/m/hunter2hunter2.mov', '-passphrase', 'hunter2hunter2', '-y', 'out-hunter2hunter2.mp4'], key);
    assert.deepEqual(r.argv, ['-i', `/m/${ph('hunter2hunter2')}.mov`, '-passphrase', ph('hunter2hunter2'), '-y', `out-${ph('hunter2hunter2')}.mp4`]);
    assert.deepEqual(r.redactions.map((x) => [x.where, x.kind]), [['argv[3]', 'option:passphrase'], ['argv[1]', 'argv-secret'], ['argv[5]', 'argv-secret']]);
  });

  it('redacts recorded paths like the argv, and drops the exact bytes of a path it changed', () => {
    const rules = parseRedactionRules({ redact: [{ name: 'case', pattern: 'CASE-[0-9]{5}' }] });
    const files = [
      { path: '/media/CASE-12345/a.mov', path_b64: Buffer.from('/media/CASE-12345/a.mov').toString('base64'), sha256: 'x' },
      { path: '/media/plain/b.mov', path_b64: 'kept' },
      { path: '/media/hunter2hunter2.mov' },
    ];
    const r = redactFileRecords(files, 'inputs', key, ['hunter2hunter2'], rules);
    assert.deepEqual(files, [
      { path: `/media/${ph('CASE-12345')}/a.mov`, sha256: 'x' },
      { path: '/media/plain/b.mov', path_b64: 'kept' },
      { path: `/media/${ph('hunter2hunter2')}.mov` },
    ]);
    assert.deepEqual(r.map((x) => [x.where, x.kind]), [['inputs[0].path', 'pattern:case'], ['inputs[2].path', 'argv-secret']]);
    assert.deepEqual(redactPath('/srv/CASE-54321', 'cwd', key, [], rules).redactions.map((x) => x.where), ['cwd']);
  });

  it('gives stable placeholders and HMACs that prove the value under the key only', () => {
    const a = redactArgv(['-passphrase', 'hunter2hunter2'], key);
    const b = redactArgv(['-passphrase', 'hunter2hunter2'], key);
    assert.deepEqual(a, b);
    assert.equal(a.redactions[0]!.hmac, redactionHmac(key, 'hunter2hunter2'));
    assert.match(a.redactions[0]!.hmac, /^[0-9a-f]{64}$/);
    assert.notEqual(a.redactions[0]!.hmac, redactionHmac(key, 'hunter2hunter3'));
    assert.notEqual(a.redactions[0]!.hmac, redactionHmac(randomBytes(32), 'hunter2hunter2'));
    // RFC 4231 test case 2: HMAC-SHA-256("Jefe", "what do ya want for nothing?").
    assert.equal(redactionHmac(Buffer.from('Jefe'), 'what do ya want for nothing?'), '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843');
  });
});

describe('redactText', () => {
  it('removes each secret in every form FFmpeg prints it and nothing else', () => {
    const secret = 'p@ss wörd"$';
    const text = [
      'Command line:',
      `ffmpeg -passphrase "p@ss w\\xc3\\xb6rd\\"\\$" -i in.mp4`,
      `Applying option passphrase with argument ${secret}.`,
      `[http @ 0x1] Opening 'http://h/x?p=${encodeURIComponent(secret)}' for reading`,
      'Stream #0:0: Video: h264, 160x120',
    ].join('\n');
    const r = redactText(text, key, [secret]);
    assert.ok(!r.text.includes(secret));
    assert.ok(!r.text.includes('w\\xc3\\xb6rd'));
    assert.ok(!r.text.includes(encodeURIComponent(secret)));
    assert.equal(r.text.split(ph(secret)).length - 1, 3);
    assert.ok(r.text.endsWith('Stream #0:0: Video: h264, 160x120'));
    assert.deepEqual(r.redactions, [{ where: 'report', kind: 'argv-secret', hmac: redactionHmac(key, secret) }]);
  });

  it('removes credential headers FFmpeg echoes, URL credentials and token parameters found only in the log', () => {
    const text = "request: GET /x HTTP/1.1\r\nAuthorization: Basic dTpw\r\nCookie: a=b\r\nUser-Agent: Lavf\r\n\r\n[https @ 0x2] Opening 'https://v:w@h/seg1.ts?token=zz9' for reading\n";
    const r = redactText(text, key, []);
    assert.equal(r.text, `request: GET /x HTTP/1.1\r\nAuthorization: ${ph('Basic dTpw')}\r\nCookie: ${ph('a=b')}\r\nUser-Agent: Lavf\r\n\r\n[https @ 0x2] Opening 'https://${ph('v:w')}@h/seg1.ts?token=${ph('zz9')}' for reading\n`);
    assert.deepEqual(r.redactions.map((x) => x.kind).sort(), ['header:authorization', 'header:cookie', 'url-credentials', 'url-query:token']);
  });

  it('removes very short secrets only where they stand alone', () => {
    const r = redactText('key=ab\nlabel abc\nab', key, ['ab']);
    assert.equal(r.text, `key=${ph('ab')}\nlabel abc\n${ph('ab')}`);
  });

  it('gives the same placeholder in the argv and in the log', () => {
    const a = redactArgv(['-i', 'rtsp://cam:pw123456@10.0.0.2/s'], key);
    const t = redactText("Opening 'rtsp://cam:pw123456@10.0.0.2/s' for reading", key, a.secrets);
    assert.equal(t.text, `Opening '${a.argv[1]}' for reading`);
  });

  it('leaves no secret in a real FFmpeg report (headers, URL credentials, keys)', () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ffaudit-redact-'));
    try {
      const secrets = { header: 'Bearer sekr1t-header-value', pass: 'Pa55w0rdXYZ', key: '00112233445566778899aabbccddeeff' };
      const argv = ['-nostdin', '-y', '-headers', `Authorization: ${secrets.header}\r\n`, '-rw_timeout', '200000', '-i', `http://user:${secrets.pass}@127.0.0.1:9/x.mp4`, '-f', 'lavfi', '-i', 'testsrc=duration=0.2:size=32x32', '-encryption_key', secrets.key, '-f', 'null', '-'];
      const file = path.join(tmp, 'r.log');
      spawnSync('ffmpeg', argv, { cwd: tmp, env: { ...process.env, FFREPORT: `file=${file}:level=48` } });
      const raw = fs.readFileSync(file, 'utf8');
      assert.ok(raw.includes(secrets.pass) && raw.includes(secrets.key), 'the unredacted report holds the secrets');
      const a = redactArgv(argv, key);
      const t = redactText(raw, key, a.secrets);
      for (const s of [...Object.values(secrets), `user:${secrets.pass}`]) {
        assert.ok(!a.argv.join('\n').includes(s), `argv leaks ${s}`);
        assert.ok(!t.text.includes(s), `report leaks ${s}`);
      }
      assert.ok(t.text.includes('testsrc=duration=0.2:size=32x32'));
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});

describe('parseRedactionRules', () => {
  it('accepts a config with or without rules', () => {
    assert.deepEqual(parseRedactionRules(undefined), []);
    assert.deepEqual(parseRedactionRules({}), []);
    assert.deepEqual(parseRedactionRules({ redact: [{ name: 'x', pattern: 'a+' }] }), [{ name: 'x', pattern: 'a+' }]);
  });
  it('rejects malformed rules with BAD_INPUT', () => {
    for (const bad of [[], 'x', { redact: {} }, { redact: [null] }, { redact: [{ name: 'x' }] }, { redact: [{ name: 'x', pattern: '(' }] }, { redact: [{ name: 'x', pattern: 'a*' }] }, { redact: [{ name: 'a b', pattern: 'a' }] }]) {
      assert.throws(() => parseRedactionRules(bad), (e: unknown) => e instanceof FfauditError && e.code === 'BAD_INPUT', JSON.stringify(bad));
    }
  });
});
