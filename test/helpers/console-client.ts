/**
 * The web console as a client sees it, over node:https: an optional client certificate, a cookie
 * jar of one session, forms posted urlencoded. For the browser's view see console-browser.test.ts.
 */
import { request } from 'node:https';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fleetcert } from './cli.js';

export interface ConsoleResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

export interface ConsoleIdentity {
  readonly pfx?: Buffer;
  readonly passphrase?: string;
  readonly cert?: string;
  readonly key?: string;
}

/** A browser-like client of one console: it keeps the session cookie it is given. */
export class ConsoleClient {
  cookie: string | undefined;

  constructor(
    private readonly consoleUrl: string,
    private readonly rootPem: string,
    private readonly identity: ConsoleIdentity = {},
  ) {}

  get(path: string): Promise<ConsoleResponse> {
    return this.send('GET', path);
  }

  post(path: string, form: Record<string, string>, headers: Record<string, string> = {}): Promise<ConsoleResponse> {
    return this.send('POST', path, new URLSearchParams(form).toString(), headers);
  }

  /** The CSRF token in the page's forms. */
  static csrf(page: ConsoleResponse): string {
    const match = /name="csrf" value="([^"]+)"/.exec(page.body);
    if (!match) throw new Error(`no CSRF token in the page (${page.status}):\n${page.body.slice(0, 400)}`);
    return match[1]!;
  }

  private send(method: 'GET' | 'POST', path: string, body?: string, extra: Record<string, string> = {}): Promise<ConsoleResponse> {
    const url = new URL(path, this.consoleUrl);
    return new Promise((resolve, reject) => {
      const headers: Record<string, string> = { ...extra };
      if (this.cookie) headers.cookie = this.cookie;
      if (body !== undefined) headers['content-type'] = 'application/x-www-form-urlencoded';
      const req = request(
        {
          host: url.hostname,
          port: url.port,
          path: url.pathname + url.search,
          method,
          headers,
          servername: 'localhost',
          ca: this.rootPem,
          agent: false,
          ...this.identity,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const set = res.headers['set-cookie']?.[0];
            if (set) this.cookie = set.includes('Max-Age=0') ? undefined : set.split(';')[0];
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() });
          });
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }
}

/** `fleetcert admin issue`: the PKCS#12 and its passphrase, as a browser or node:https would load them. */
export async function issueAdmin(
  dataDir: string,
  passphraseFile: string,
  dir: string,
  name: string,
  role: 'viewer' | 'operator',
): Promise<{ pfx: Buffer; passphrase: string; p12Path: string; serial: string }> {
  const p12Path = join(dir, `${name}.p12`);
  const res = await fleetcert([
    'admin',
    'issue',
    name,
    '--role',
    role,
    '--p12-out',
    p12Path,
    '--data-dir',
    dataDir,
    '--passphrase-file',
    passphraseFile,
    '--json',
  ]);
  if (res.code !== 0) throw new Error(`admin issue failed: ${res.stderr}`);
  const out = JSON.parse(res.stdout) as { serial: string; passphraseFile: string };
  return { pfx: await readFile(p12Path), passphrase: (await readFile(out.passphraseFile, 'utf8')).trim(), p12Path, serial: out.serial };
}
