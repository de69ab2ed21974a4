/**
 * `fleetcert crl sync` on a broker host: fetch the CRL from the distribution point, accept it only
 * if it is signed by the issuing CA, names it as issuer, is current, and numbers at least as high
 * as the one installed, then replace the broker's file atomically (mode and group kept) and reload
 * the broker. Mosquitto fails open on a garbage CRL at reload and refuses everyone on an expired
 * one, so nothing unverified ever reaches the file. An unchanged CRL (304, or the same number)
 * changes nothing and reloads nothing.
 */
import { execFile } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import { promisify } from 'node:util';
import { FleetcertError } from '../../shared/errors.js';
import { writeFileAtomic } from '../../shared/fs/write-file-atomic.js';
import { readCertificates, type Certificate } from '../../shared/pki/certificate.js';
import { MAX_CRL_BYTES, parseCrl, type CrlInfo } from '../../shared/pki/crl.js';
import { toPem } from '../../shared/pki/encoding.js';

export interface CrlSyncParams {
  readonly url: string;
  readonly out: string;
  /** PEM bundle holding the issuing CA (the broker's ca.pem will do). */
  readonly issuers: string;
  readonly reloadCommand: string | undefined;
  readonly now: Date;
  readonly timeoutMs: number;
}

export type CrlSyncOutcome =
  | { readonly changed: false; readonly crlNumber: number | undefined; readonly why: 'not-modified' | 'same-number' }
  | { readonly changed: true; readonly crlNumber: number; readonly previous: number | undefined; readonly reloaded: boolean };

export async function syncCrl(p: CrlSyncParams): Promise<CrlSyncOutcome> {
  const installed = await readInstalled(p.out);
  const fetched = await fetchCrl(p.url, installed?.crlNumber, p.timeoutMs);
  if (fetched === 'not-modified') return { changed: false, crlNumber: installed?.crlNumber, why: 'not-modified' };
  const crl = await verify(fetched, await readIssuers(p.issuers), p.now);
  const number = crl.crlNumber!;
  if (installed?.crlNumber !== undefined && number < installed.crlNumber) {
    throw new FleetcertError('crl_invalid', `the CRL at ${p.url} is number ${number}, older than the installed ${installed.crlNumber}`, {
      hint: 'a server or cache is serving an old CRL; the installed one is kept',
    });
  }
  if (installed?.crlNumber === number) return { changed: false, crlNumber: number, why: 'same-number' };
  const existing = await stat(p.out).catch(() => undefined);
  await writeFileAtomic(p.out, toPem(fetched, 'X509 CRL'), {
    mode: existing ? existing.mode & 0o777 : 0o644,
    ...(existing ? { gid: existing.gid } : {}),
  });
  if (p.reloadCommand !== undefined) await reload(p.reloadCommand);
  return { changed: true, crlNumber: number, previous: installed?.crlNumber, reloaded: p.reloadCommand !== undefined };
}

async function readInstalled(path: string): Promise<CrlInfo | undefined> {
  try {
    return await parseCrl(await readFile(path, 'utf8'));
  } catch {
    return undefined; // missing or unreadable: any verified CRL replaces it
  }
}

async function readIssuers(path: string): Promise<Certificate[]> {
  try {
    return readCertificates(await readFile(path, 'utf8'));
  } catch (err) {
    throw new FleetcertError('config_invalid', `cannot read the CA bundle ${path}`, { cause: err });
  }
}

/** GET with If-None-Match (the server's ETag is the CRL number), bounded in time and size. */
async function fetchCrl(url: string, installedNumber: number | undefined, timeoutMs: number): Promise<Uint8Array | 'not-modified'> {
  if (!/^https?:\/\//.test(url)) {
    throw new FleetcertError('usage', `--url "${url.slice(0, 200)}" must be an http(s) URL`, {
      hint: 'the CRL distribution point serve prints (event crl_distribution_point); for the timer, set FLEETCERT_CRL_URL in /etc/default/fleetcert-crl-sync',
    });
  }
  let res: Response;
  try {
    res = await fetch(url, {
      headers: installedNumber === undefined ? {} : { 'if-none-match': `"${installedNumber}"` },
      signal: AbortSignal.timeout(timeoutMs),
      redirect: 'error',
    });
  } catch (err) {
    throw new FleetcertError('crl_fetch_failed', `cannot fetch the CRL from ${url}: ${(err as Error).message}`, { cause: err });
  }
  if (res.status === 304) return 'not-modified';
  if (res.status !== 200) throw new FleetcertError('crl_fetch_failed', `${url} answered ${res.status}`);
  const declared = Number(res.headers.get('content-length') ?? 0);
  if (declared > MAX_CRL_BYTES) throw new FleetcertError('crl_invalid', `the CRL at ${url} is ${declared} bytes, over ${MAX_CRL_BYTES}`);
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of res.body ?? []) {
    size += (chunk as Uint8Array).length;
    if (size > MAX_CRL_BYTES) throw new FleetcertError('crl_invalid', `the CRL at ${url} is over ${MAX_CRL_BYTES} bytes`);
    chunks.push(chunk as Uint8Array);
  }
  return Buffer.concat(chunks);
}

async function verify(der: Uint8Array, issuers: readonly Certificate[], now: Date): Promise<CrlInfo> {
  const unsigned = await parseCrl(der);
  const issuer = issuers.find((c) => c.subject === unsigned.issuer);
  if (!issuer) throw new FleetcertError('crl_invalid', `the CRL's issuer "${unsigned.issuer}" is not in the CA bundle`);
  const crl = await parseCrl(der, issuer); // signature and issuer name
  if (crl.crlNumber === undefined) throw new FleetcertError('crl_invalid', 'the CRL has no CRL number');
  if (!crl.nextUpdate || crl.nextUpdate <= now) throw new FleetcertError('crl_invalid', 'the CRL is past its nextUpdate');
  if (crl.thisUpdate.getTime() > now.getTime() + 5 * 60_000) throw new FleetcertError('crl_invalid', 'the CRL is dated in the future');
  return crl;
}

async function reload(command: string): Promise<void> {
  try {
    await promisify(execFile)('/bin/sh', ['-c', command], { timeout: 30_000 });
  } catch (err) {
    throw new FleetcertError('broker_reload_failed', `the CRL is installed, but "${command}" failed: ${(err as Error).message}`, {
      cause: err,
    });
  }
}
