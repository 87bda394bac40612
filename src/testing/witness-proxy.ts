/**
 * TEST HELPER: a forwarder on loopback in front of a real witness (`ffaudit serve`), for the witness-quorum tests.
 * It passes every request through unchanged and records it; with `lie`, it flips one byte of the base64 signature of
 * each cosignature line in a 200 answer to POST /add-checkpoint, as a lying witness (or someone on the path) would:
 * the line still parses, under the witness's own name and key ID, and its Ed25519 signature no longer verifies.
 */
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface WitnessProxy {
  url: string;
  /** Every request forwarded: method, path, the body's exact bytes, and the status the witness answered. */
  requests: { method: string; path: string; body: Buffer; status: number }[];
  close(): Promise<void>;
}

const read = async (m: IncomingMessage): Promise<Buffer> => {
  const parts: Buffer[] = [];
  for await (const c of m) parts.push(c as Buffer);
  return Buffer.concat(parts);
};

/**
 * The line with one base64 character of its signature changed: after the key ID and timestamp (12 bytes, 16 base64
 * characters) and before any padding, so the decoded length and key ID stay as they were.
 */
export function flipSignature(line: string): string {
  const sp = line.lastIndexOf(' ');
  const at = sp + 1 + 40;
  const c = line[at]!;
  return `${line.slice(0, at)}${c === 'A' ? 'B' : 'A'}${line.slice(at + 1)}`;
}

export async function startWitnessProxy(target: string, opts: { lie?: boolean } = {}): Promise<WitnessProxy> {
  const to = new URL(target);
  const requests: WitnessProxy['requests'] = [];
  const server: Server = createServer((req, res) => {
    void (async () => {
      const body = await read(req);
      const headers = { ...req.headers, host: to.host };
      const up = httpRequest({ hostname: to.hostname, port: to.port, path: req.url, method: req.method, headers }, (answer) => {
        void (async () => {
          let data = await read(answer);
          const record = { method: req.method ?? '', path: req.url ?? '', body, status: answer.statusCode ?? 0 };
          requests.push(record);
          if (opts.lie && record.method === 'POST' && record.path === '/add-checkpoint' && record.status === 200) {
            const text = data.toString('utf8');
            data = Buffer.from(text.replace(/^— .+$/gmu, flipSignature), 'utf8');
          }
          const h = { ...answer.headers, 'content-length': String(data.length) };
          delete h['transfer-encoding'];
          res.writeHead(answer.statusCode ?? 502, h);
          res.end(data);
        })();
      });
      up.on('error', () => {
        res.destroy();
      });
      up.end(body);
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
