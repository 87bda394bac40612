/**
 * A real RFC 3161 TSA for tests: OpenSSL's `openssl ts -reply` behind a loopback HTTP front, with an EC CA and TSA
 * certificates made by `openssl` in a directory of the caller's. Each path of the front is one signer:
 *   /good        the TSA certificate (extendedKeyUsage critical timeStamping, valid 30 days)
 *   /short       the same key in a certificate valid 1 day (for renewals before expiry)
 *   /expired     the same key in a certificate that expired in 2020
 *   /other       another TSA under another CA (other-ca.pem)
 *   /sha512only  a TSA section that accepts SHA-512 imprints only
 *   /int-good    the TSA's key certified by an intermediate CA (keyCertSign), the intermediate carried in the token
 *   /int-bad     the same through an intermediate whose keyUsage does not allow certificate signing
 * Files in `dir` the tests may use: ca.pem/ca.key, other-ca.pem, tsa.pem/tsa.key, tsa-short.pem, web.pem (the TSA's key
 * in a serverAuth certificate), soft.pem (timeStamping not critical), tsa-twin.pem (same key and serial, another
 * certificate).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

/** False when openssl runs here; else why the tests that need a TSA are skipped. */
export const tsaSkip: string | false = (() => {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return false;
  } catch {
    return 'openssl is not installed: the RFC 3161 tests need it as the TSA';
  }
})();

export interface TestTsa {
  /** The URL of one signer (default `good`). */
  url(path?: string): string;
  /** The CA's certificate (PEM text) and its file. */
  ca(): string;
  caFile: string;
  /** A file of the fixture's directory. */
  file(name: string): string;
  /** Runs openssl in the fixture's directory; returns its standard output. */
  ssl(...args: string[]): string;
  /** How many requests were answered, and the last query's bytes. */
  served(): number;
  lastQuery(): Buffer;
  /** Answers 503 to every request while set (a TSA that is down). */
  down: boolean;
  close(): Promise<void>;
}

const TSA_EXT = ['[int_good]', 'basicConstraints = critical,CA:TRUE', 'keyUsage = critical,keyCertSign,cRLSign', '[int_bad]', 'basicConstraints = critical,CA:TRUE', 'keyUsage = critical,digitalSignature', '[tsa_ext]', 'basicConstraints = critical,CA:FALSE', 'keyUsage = critical,digitalSignature', 'extendedKeyUsage = critical,timeStamping', '[web_ext]', 'basicConstraints = critical,CA:FALSE', 'keyUsage = critical,digitalSignature', 'extendedKeyUsage = serverAuth', '[soft_ext]', 'basicConstraints = critical,CA:FALSE', 'extendedKeyUsage = timeStamping', ''].join('\n');

const SIGNERS: Record<string, { cert: string; key: string; section?: string; chain?: string }> = {
  'int-good': { cert: 'tsa-int-good', key: 'tsa', chain: 'int-good' },
  'int-bad': { cert: 'tsa-int-bad', key: 'tsa', chain: 'int-bad' },
  good: { cert: 'tsa', key: 'tsa' },
  short: { cert: 'tsa-short', key: 'tsa' },
  expired: { cert: 'tsa-expired', key: 'tsa' },
  other: { cert: 'other-tsa', key: 'other-tsa' },
  sha512only: { cert: 'tsa', key: 'tsa', section: 'sha512only' },
};

/** Makes the keys and certificates in `dir` (an empty directory) and starts the front on loopback. */
export async function startTestTsa(dir: string): Promise<TestTsa> {
  const f = (name: string) => join(dir, name);
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] }).toString('utf8');
  const makeCa = (name: string) =>
    ssl('req', '-x509', '-config', f('req.cnf'), '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', f(`${name}.key`), '-out', f(`${name}.pem`), '-days', '30', '-subj', `/CN=${name}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-addext', 'subjectKeyIdentifier=hash');
  const makeKey = (name: string) =>
    ssl('req', '-new', '-config', f('req.cnf'), '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`), '-subj', `/O=Studio/CN=${name}`);
  const issue = (csr: string, cert: string, ca: string, ext: string, serial: string, days = '30') =>
    ssl('x509', '-req', '-in', f(`${csr}.csr`), '-CA', f(`${ca}.pem`), '-CAkey', f(`${ca}.key`), '-set_serial', serial, '-days', days, '-sha256', '-extfile', f('ext.cnf'), '-extensions', ext, '-out', f(`${cert}.pem`));

  writeFileSync(f('req.cnf'), '[req]\ndistinguished_name = dn\n[dn]\n');
  writeFileSync(f('ext.cnf'), TSA_EXT);
  makeCa('ca');
  makeCa('other-ca');
  makeKey('tsa');
  issue('tsa', 'tsa', 'ca', 'tsa_ext', '2');
  issue('tsa', 'tsa-short', 'ca', 'tsa_ext', '3', '1');
  // The same key and serial in a certificate for web servers: a token it signs is otherwise flawless.
  issue('tsa', 'web', 'ca', 'web_ext', '2');
  issue('tsa', 'soft', 'ca', 'soft_ext', '2');
  issue('tsa', 'tsa-twin', 'ca', 'tsa_ext', '2');
  // Intermediates between the CA and a TSA certificate: one that may sign certificates, one whose keyUsage says not.
  for (const int of ['int-good', 'int-bad']) {
    makeKey(int);
    issue(int, int, 'ca', int.replace('-', '_'), int === 'int-good' ? '4' : '5');
    issue('tsa', `tsa-${int}`, int, 'tsa_ext', '6');
  }
  makeKey('other-tsa');
  issue('other-tsa', 'other-tsa', 'other-ca', 'tsa_ext', '2');
  // OpenSSL 3.0's `x509` cannot backdate; its `ca` can: a TSA certificate that expired in 2020.
  writeFileSync(f('index.txt'), '');
  writeFileSync(f('ca.serial'), '10\n');
  writeFileSync(
    f('ca.cnf'),
    ['[ca]', 'default_ca = dflt', '[dflt]', `database = ${f('index.txt')}`, `new_certs_dir = ${dir}`, `serial = ${f('ca.serial')}`, 'default_md = sha256', 'policy = any', 'unique_subject = no', 'x509_extensions = tsa_ext', '[any]', 'commonName = supplied', 'organizationName = optional', TSA_EXT].join('\n'),
  );
  ssl('ca', '-batch', '-config', f('ca.cnf'), '-cert', f('ca.pem'), '-keyfile', f('ca.key'), '-in', f('tsa.csr'), '-out', f('tsa-expired.pem'), '-startdate', '20200101000000Z', '-enddate', '20200102000000Z', '-notext');
  writeFileSync(
    f('tsa.cnf'),
    ['[tsa]', 'default_tsa = tsa1', '[tsa1]', `serial = ${f('tsa.serial')}`, 'crypto_device = builtin', 'signer_digest = sha256', 'default_policy = 1.3.6.1.4.1.4146.2.3', 'digests = sha256', 'accuracy = secs:1', 'ordering = no', 'tsa_name = yes', 'ess_cert_id_chain = no', 'ess_cert_id_alg = sha256', '[sha512only]', `serial = ${f('tsa.serial')}`, 'crypto_device = builtin', 'signer_digest = sha256', 'default_policy = 1.3.6.1.4.1.4146.2.3', 'digests = sha512', 'ess_cert_id_alg = sha256', ''].join('\n'),
  );

  let served = 0;
  let lastQuery = Buffer.alloc(0);
  const tsa = { down: false } as TestTsa;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (tsa.down) {
        res.writeHead(503).end();
        return;
      }
      const signer = SIGNERS[(req.url ?? '').slice(1)];
      if (req.method !== 'POST' || req.headers['content-type'] !== 'application/timestamp-query' || !signer) {
        res.writeHead(400).end();
        return;
      }
      lastQuery = Buffer.concat(chunks);
      const n = ++served;
      writeFileSync(f(`q${n}.der`), lastQuery);
      ssl('ts', '-reply', '-config', f('tsa.cnf'), ...(signer.section ? ['-section', signer.section] : []), ...(signer.chain ? ['-chain', f(`${signer.chain}.pem`)] : []), '-queryfile', f(`q${n}.der`), '-signer', f(`${signer.cert}.pem`), '-inkey', f(`${signer.key}.key`), '-out', f(`r${n}.der`));
      res.writeHead(200, { 'content-type': 'application/timestamp-reply' }).end(readFileSync(f(`r${n}.der`)));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return Object.assign(tsa, {
    url: (path = 'good') => `${base}/${path}`,
    ca: () => readFileSync(f('ca.pem'), 'utf8'),
    caFile: f('ca.pem'),
    file: f,
    ssl,
    served: () => served,
    lastQuery: () => lastQuery,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  });
}
