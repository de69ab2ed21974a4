#!/usr/bin/env node
// The size of the broker's CRL for a fleet at steady state, signed with the real CrlSigner.
// Model: N devices, certificates of --lifetime days renewed at the agent's own renewal time
// (2/3 of the lifetime minus up to 5% jitter, shared/renewal), each successor proven at once, so
// its predecessor is revoked (reason superseded) at the renewal and listed until it expires.
// Enrollments are spread over several lifetimes before "now" so the fleet is at steady state.
// Prints entries, DER/PEM bytes, signing and parsing times (serve's fast signer and lean reader
// against the @peculiar reference ones they replaced, and their ratios), and how long Mosquitto 2.0 takes to
// start with that CRL against an empty one (the broker reads the crlfile at start and at SIGHUP).
// Usage: node scripts/bench-crl-size.mjs [--devices 10000] [--lifetime 30] [--seed 1]
import { spawn, spawnSync } from 'node:child_process';
import { connect as tlsConnect } from 'node:tls';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, ensureSetup } from './lib/setup.mjs';

ensureSetup({ commands: ['openssl', 'mosquitto'] });

const arg = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const DEVICES = arg('--devices', 10_000);
const LIFETIME_DAYS = arg('--lifetime', 30);
const SEED = arg('--seed', 1);

const dist = (...p) => join(ROOT, 'dist', ...p);
const { renewalTime } = await import(dist('shared', 'renewal', 'renewal-window.js'));
const { PeculiarCrlSigner } = await import(dist('server', 'authority', 'peculiar-crl-signer.js'));
const { FastCrlSigner } = await import(dist('server', 'authority', 'fast-crl-signer.js'));
const { parseCrlReference } = await import(dist('test', 'helpers', 'reference-crl-parser.js'));
const { randomSerial } = await import(dist('server', 'authority', 'certificate-profiles.js'));
const { parseCrl } = await import(dist('shared', 'pki', 'crl.js'));
const { toPem } = await import(dist('shared', 'pki', 'encoding.js'));
const { certificateToPem } = await import(dist('shared', 'pki', 'certificate.js'));
const { makeTestPki } = await import(dist('test', 'helpers', 'test-pki.js'));

// A seeded generator (mulberry32): the same fleet every run.
let state = SEED >>> 0;
const random = () => {
  state = (state + 0x6d2b79f5) >>> 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};

/** Serials as the issuer makes them. */
const serial = () => randomSerial(randomBytes);

const DAY_MS = 86_400_000;
const lifetimeMs = LIFETIME_DAYS * DAY_MS;
const now = new Date('2026-12-01T00:00:00Z');
const entries = [];
for (let d = 0; d < DEVICES; d += 1) {
  // Enrolled somewhere in the last five lifetimes; renews from then on, each successor proven at once.
  let notBefore = new Date(now.getTime() - 5 * lifetimeMs + random() * 4 * lifetimeMs);
  for (;;) {
    const notAfter = new Date(notBefore.getTime() + lifetimeMs);
    const renewAt = renewalTime({ notBefore, notAfter }, random);
    if (renewAt > now) break;
    // The predecessor is revoked (superseded) at the renewal and stays listed until it expires.
    if (notAfter > now) entries.push({ serialNumber: serial(), revokedAt: renewAt, reason: 'superseded' });
    notBefore = renewAt;
  }
}

const pki = await makeTestPki(now);
const request = { entries, thisUpdate: now, nextUpdate: new Date(now.getTime() + 7 * DAY_MS), crlNumber: 1 };
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
/** Median of 3 runs of `work`, in ms, and its last result. */
async function timed(work) {
  const ms = [];
  let result;
  for (let i = 0; i < 3; i += 1) {
    const started = performance.now();
    result = await work();
    ms.push(performance.now() - started);
  }
  return { ms: median(ms), result };
}
const signer = new FastCrlSigner(pki.intermediate);
const fastSign = await timed(() => signer.sign(request));
const referenceSign = await timed(() => new PeculiarCrlSigner(pki.intermediate).sign(request));
const der = fastSign.result;
const pem = toPem(der, 'X509 CRL');
const leanRead = await timed(() => parseCrl(der, signer.certificate));
const referenceRead = await timed(() => parseCrlReference(der, signer.certificate));
if (leanRead.result.entries.length !== entries.length)
  throw new Error(`the CRL reads back ${leanRead.result.entries.length} entries, not ${entries.length}`);

const mosquitto = await mosquittoStartMs(pem, toPem(await signer.sign({ ...request, entries: [] }), 'X509 CRL'));
process.stdout.write(
  JSON.stringify(
    {
      devices: DEVICES,
      lifetimeDays: LIFETIME_DAYS,
      entries: entries.length,
      entriesPerDevice: Number((entries.length / DEVICES).toFixed(3)),
      derBytes: der.length,
      pemBytes: pem.length,
      signMs: { fast: Math.round(fastSign.ms), reference: Math.round(referenceSign.ms), ratio: round1(referenceSign.ms / fastSign.ms) },
      parseAndVerifyMs: {
        lean: Math.round(leanRead.ms),
        reference: Math.round(referenceRead.ms),
        ratio: round1(referenceRead.ms / leanRead.ms),
      },
      mosquittoStartMs: mosquitto,
      node: process.version,
    },
    null,
    2,
  ) + '\n',
);

function round1(x) {
  return Math.round(x * 10) / 10;
}

/** Mosquitto's start-up time to an open TLS listener with this CRL, and with an empty one (median of 5 each). */
async function mosquittoStartMs(crlPem, emptyCrlPem) {
  const dir = mkdtempSync(join(tmpdir(), 'fleetcert-bench-crl-'));
  try {
    const key = join(dir, 'server.key');
    const cert = join(dir, 'server.pem');
    const made = spawnSync('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-subj',
      '/CN=localhost',
      '-days',
      '2',
    ]);
    if (made.status !== 0) throw new Error(`openssl: ${String(made.stderr)}`);
    writeFileSync(join(dir, 'ca.pem'), certificateToPem(pki.root.certificate) + certificateToPem(pki.intermediate.certificate));
    const time = async (crl) => {
      writeFileSync(join(dir, 'crl.pem'), crl);
      const conf = join(dir, 'mosquitto.conf');
      const port = 20_000 + Math.floor(Math.random() * 20_000);
      writeFileSync(
        conf,
        [
          'per_listener_settings true',
          ...(process.getuid?.() === 0 ? ['user root'] : []),
          `listener ${port} 127.0.0.1`,
          `cafile ${join(dir, 'ca.pem')}`,
          `certfile ${cert}`,
          `keyfile ${key}`,
          `crlfile ${join(dir, 'crl.pem')}`,
          'require_certificate true',
          'allow_anonymous false',
          'use_identity_as_username true',
          '',
        ].join('\n'),
      );
      const begun = performance.now();
      const child = spawn('mosquitto', ['-c', conf], { stdio: 'ignore' });
      let exited = false;
      child.once('exit', () => (exited = true));
      // Ready when the listener answers a TLS handshake: the kernel accepts TCP before Mosquitto
      // has loaded the CRL (it opens the socket first), but only its main loop answers TLS.
      let ms;
      while (ms === undefined) {
        if (exited) throw new Error('mosquitto exited at start');
        if (await accepts(port)) ms = performance.now() - begun;
        else await new Promise((r) => setTimeout(r, 2));
      }
      child.kill('SIGTERM');
      // oxlint-disable-next-line eslint/no-unmodified-loop-condition -- set by the child's exit event
      while (!exited) await new Promise((r) => setTimeout(r, 5));
      return ms;
    };
    const withCrl = [];
    const empty = [];
    for (let i = 0; i < 5; i += 1) {
      empty.push(await time(emptyCrlPem));
      withCrl.push(await time(crlPem));
    }
    return { emptyCrl: Math.round(median(empty)), thisCrl: Math.round(median(withCrl)) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function accepts(port) {
  return new Promise((resolve) => {
    const socket = tlsConnect({ port, host: '127.0.0.1', rejectUnauthorized: false, maxVersion: 'TLSv1.2' });
    socket.once('secureConnect', () => {
      socket.destroy();
      resolve(true);
    });
    // Refused: not listening yet. Any other failure (no client certificate) is an answer.
    socket.once('error', (err) => resolve(err.code !== 'ECONNREFUSED'));
  });
}
