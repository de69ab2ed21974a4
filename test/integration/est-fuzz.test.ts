/**
 * Issue 11, item 7: a seeded, bounded fuzz of every endpoint of the real `fleetcert serve`.
 * Thousands of malformed requests (mutated CSRs, bad base64, bad headers and credentials, wrong
 * methods and paths, random bodies, lying framing) over raw TLS; the server must never exit,
 * never answer 5xx, answer only documented codes, and leave tokens, devices and certificates
 * exactly as they were (audit rows may be added). The seed is printed; replay a failure with
 * FLEETCERT_FUZZ_SEED=<seed> npm test -- est-fuzz (FLEETCERT_FUZZ_REQUESTS changes the count).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ERROR_CODES } from '#shared/errors.js';
import { encodeMetadataHeader } from '#shared/protocol/device-metadata.js';
import { EST_PATHS } from '#shared/protocol/est.js';
import { RENEWAL_INFO_PATH } from '#shared/protocol/renewal-info.js';
import { buildCsr } from '#shared/pki/csr.js';
import { generateKeyPair, type KeyType } from '#shared/pki/key-pair.js';
import { deviceCsr, enrollDevice, est, type EnrolledDevice } from '../helpers/est-client.js';
import { createToken, registrySnapshot, startServer, type FleetServer } from '../helpers/fleet-server.js';
import { rawHttps, type RawReply } from '../helpers/raw-https.js';
import { withTempDir } from '../helpers/temp-dir.js';
import { prng } from '../helpers/prng.js';

const SEED = process.env.FLEETCERT_FUZZ_SEED ? Number(process.env.FLEETCERT_FUZZ_SEED) : Math.floor(Math.random() * 2 ** 32);
const REQUESTS = Number(process.env.FLEETCERT_FUZZ_REQUESTS ?? 4000);
const CONCURRENCY = 6;

class Fuzz {
  constructor(private readonly next: () => number) {}
  int(max: number): number {
    return Math.floor(this.next() * max);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  bytes(n: number): Buffer {
    return Buffer.from(Array.from({ length: n }, () => this.int(256)));
  }
  text(n: number, alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/=_-.:%'): string {
    return Array.from({ length: n }, () => alphabet[this.int(alphabet.length)]).join('');
  }
}

/** One way of breaking a DER CSR, named so a failure says what was sent. */
type Mutation = (f: Fuzz, der: Buffer) => Buffer;

const MUTATIONS: Record<string, Mutation> = {
  bitFlips: (f, der) => {
    const out = Buffer.from(der);
    for (let i = 1 + f.int(8); i > 0; i -= 1) {
      const at = f.int(out.length);
      out[at] = out[at]! ^ (1 << f.int(8));
    }
    return out;
  },
  randomBytes: (f, der) => {
    const out = Buffer.from(der);
    for (let i = 1 + f.int(4); i > 0; i -= 1) out[f.int(out.length)] = f.int(256);
    return out;
  },
  truncate: (f, der) => der.subarray(0, f.int(der.length)),
  chopHead: (f, der) => der.subarray(1 + f.int(Math.min(40, der.length - 1))),
  insert: (f, der) => {
    const at = f.int(der.length);
    return Buffer.concat([der.subarray(0, at), f.bytes(1 + f.int(64)), der.subarray(at)]);
  },
  deleteRange: (f, der) => {
    const at = f.int(der.length);
    return Buffer.concat([der.subarray(0, at), der.subarray(Math.min(der.length, at + 1 + f.int(32)))]);
  },
  /** A length byte after a tag made wrong: off by a little, or a huge long form. */
  wrongLength: (f, der) => {
    const out = Buffer.from(der);
    const tags = [...out.keys()].filter(
      (i) => i + 1 < out.length && [0x02, 0x03, 0x04, 0x06, 0x0c, 0x13, 0x30, 0x31, 0xa0].includes(out[i]!),
    );
    const at = f.pick(tags) + 1;
    if (f.chance(0.5)) {
      out[at] = (out[at]! + f.pick([-2, -1, 1, 2, 0x40])) & 0xff;
      return out;
    }
    const huge = f.pick([
      [0x84, 0xff, 0xff, 0xff, 0xff],
      [0x88, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
      [0x80],
      [0x8f, 1, 2, 3],
      [0x81, 0x00],
    ]);
    return Buffer.concat([out.subarray(0, at), Buffer.from(huge), out.subarray(at + 1)]);
  },
  /** Deeply nested constructed types: recursion in the ASN.1 parser. */
  nestedGarbage: (f) => {
    const depth = 50 + f.int(4000);
    const open = Buffer.from(Array.from({ length: depth }, () => [f.pick([0x30, 0x31, 0xa0]), 0x80]).flat());
    return Buffer.concat([open, f.bytes(f.int(16)), Buffer.alloc(f.int(depth) * 2)]);
  },
  /** A valid CSR wrapped in extra structure or with trailing bytes. */
  wrapped: (f, der) =>
    f.chance(0.5)
      ? Buffer.concat([Buffer.from([0x30, 0x82, der.length >> 8, der.length & 0xff]), der])
      : Buffer.concat([der, f.bytes(1 + f.int(20))]),
  random: (f) => f.bytes(f.int(2048)),
};

/** How the (possibly broken) DER travels: base64 (wrapped or not), PEM, raw DER, or base64 spoiled. */
function encodeBody(f: Fuzz, der: Buffer): Buffer {
  const b64 = der.toString('base64');
  switch (f.int(6)) {
    case 0:
      return Buffer.from(b64.replace(/.{1,64}/g, '$&\n'));
    case 1:
      return Buffer.from(`-----BEGIN CERTIFICATE REQUEST-----\n${b64.replace(/.{1,64}/g, '$&\n')}-----END CERTIFICATE REQUEST-----\n`);
    case 2:
      return der;
    case 3: {
      const chars = b64.split('');
      for (let i = 1 + f.int(5); i > 0; i -= 1)
        chars.splice(f.int(chars.length + 1), 0, f.pick(['!', '*', '\u00e9', '\0', '====', ' ', '\r\n', '-']));
      return Buffer.from(chars.join(''), 'latin1');
    }
    default:
      return Buffer.from(b64);
  }
}

interface FuzzRequest {
  readonly label: string;
  readonly method: string;
  readonly path: string;
  readonly headers: string[];
  readonly body: Buffer;
  readonly mtls: boolean;
  /** Content-Length as sent; undefined: the true length. */
  readonly declaredLength?: number;
  readonly chunked?: boolean;
}

interface Fixtures {
  readonly csrs: readonly Buffer[];
  readonly token: string;
  readonly tokenId: string;
}

const PATHS = [EST_PATHS.simpleEnroll, EST_PATHS.simpleReenroll, EST_PATHS.cacerts, RENEWAL_INFO_PATH];

function basic(value: string): string {
  return `Authorization: Basic ${Buffer.from(value).toString('base64')}`;
}

function authorization(f: Fuzz, fx: Fixtures): string | undefined {
  switch (f.int(10)) {
    case 0:
      return undefined;
    case 1:
      return basic(`device:fct_${fx.tokenId}_${f.text(43, 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-')}`);
    case 2:
      return basic(`device:fct_${f.text(10, 'abcdefghijklmnopqrstuvwxyz0123456789')}_${f.text(43)}`);
    case 3:
      return `Authorization: ${f.pick(['Bearer', 'Basic', 'Digest', 'basic', 'BASIC'])} ${f.text(f.int(200))}`;
    case 4:
      return basic(f.text(f.int(1500)));
    case 5:
      return `Authorization: Basic ${'A'.repeat(f.int(3000))}`;
    case 6:
      return basic(f.chance(0.5) ? `${fx.token}:` : `:${fx.token}extra`);
    default:
      return basic(`device:${fx.token}`);
  }
}

function extraHeaders(f: Fuzz): string[] {
  const out: string[] = [];
  if (f.chance(0.1)) {
    out.push(
      `X-Fleetcert-Device: ${f.pick([
        f.text(f.int(3000), 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-'),
        encodeMetadataHeader({ model: 'Raspberry Pi 4' }).slice(0, 10),
        Buffer.from(JSON.stringify({ model: f.text(300), mac: f.text(17), extra: 1 })).toString('base64url'),
        Buffer.from(JSON.stringify([1, 2, { __proto__: { polluted: true } }])).toString('base64url'),
        Buffer.from('{"model":').toString('base64url'),
        f.text(40, '!@#$%^&*()<>?'),
      ])}`,
    );
  }
  // Many well-formed headers (over 64 of them is refused); malformed names come separately below.
  if (f.chance(0.1))
    for (let i = f.int(80); i > 0; i -= 1) out.push(`X-${f.text(8, 'abcdefghijklmnopqrstuvwxyz0123456789-')}: ${f.text(f.int(300))}`);
  if (f.chance(0.05)) out.push(`X-Big: ${'b'.repeat(17 * 1024)}`);
  if (f.chance(0.05))
    out.push(
      f.pick(['Content-Length: -1', 'Content-Length: 1e3', 'Content-Length: 0x10', 'Expect: 100-continue', 'Transfer-Encoding: gzip']),
    );
  if (f.chance(0.05)) out.push(`${f.text(5, '()<>@,;:\\"/[]?={} ')}: x`);
  return out;
}

function contentType(f: Fuzz): string | undefined {
  if (f.chance(0.8)) return 'application/pkcs10';
  return f.pick([
    undefined,
    'application/PKCS10; charset=utf-8',
    'text/plain',
    'application/pkcs7-mime',
    'multipart/form-data; boundary=x',
    f.text(f.int(400)),
  ]);
}

function makeRequest(f: Fuzz, fx: Fixtures): FuzzRequest {
  const kind = f.int(100);
  const base = f.pick(fx.csrs);
  if (kind < 55) {
    const mutation = f.pick(Object.keys(MUTATIONS));
    const der = MUTATIONS[mutation]!(f, base);
    const reenroll = f.chance(0.25);
    const type = contentType(f);
    const auth = reenroll ? undefined : authorization(f, fx);
    return {
      label: `${reenroll ? 'simplereenroll' : 'simpleenroll'} with ${mutation} CSR`,
      method: 'POST',
      path: reenroll ? EST_PATHS.simpleReenroll : EST_PATHS.simpleEnroll,
      headers: [...(auth ? [auth] : []), ...(type ? [`Content-Type: ${type}`] : []), ...extraHeaders(f)],
      body: encodeBody(f, der),
      mtls: reenroll || f.chance(0.1),
    };
  }
  if (kind < 70) {
    const body = f.pick([
      f.bytes(f.int(4096)),
      Buffer.from(f.text(f.int(6000))),
      Buffer.alloc(0),
      Buffer.from('-----BEGIN CERTIFICATE REQUEST-----\n!!\n-----END'),
    ]);
    return {
      label: 'random body',
      method: 'POST',
      path: f.pick([EST_PATHS.simpleEnroll, EST_PATHS.simpleReenroll]),
      headers: [
        ...[authorization(f, fx)].filter((h): h is string => h !== undefined),
        'Content-Type: application/pkcs10',
        ...extraHeaders(f),
      ],
      body,
      mtls: f.chance(0.5),
    };
  }
  if (kind < 85) {
    const path = f.pick([
      ...PATHS,
      `${f.pick(PATHS)}?${f.text(f.int(200))}`,
      '/.well-known/est/',
      '/.well-known/est/../est/cacerts',
      '/.well-known/est/simpleenroll/',
      '/.well-known/est/CACERTS',
      '/.well-known/est/serverkeygen',
      '/.well-known/est/csrattrs',
      `/${f.text(f.int(3000), 'abc/%2e.')}`,
      '*',
      '/%00',
      `http://localhost${EST_PATHS.cacerts}`,
    ]);
    return {
      label: 'method and path',
      method: f.pick(['GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH', 'TRACE', 'CONNECT', 'get', 'FOO']),
      path,
      headers: [...[authorization(f, fx)].filter((h): h is string => h !== undefined), ...extraHeaders(f)],
      body: f.chance(0.5) ? Buffer.alloc(0) : f.bytes(f.int(512)),
      mtls: f.chance(0.3),
    };
  }
  if (kind < 95) {
    return {
      label: 'renewal info and cacerts with odd headers',
      method: 'GET',
      path: f.pick([RENEWAL_INFO_PATH, EST_PATHS.cacerts]),
      headers: [...[authorization(f, fx)].filter((h): h is string => h !== undefined), ...extraHeaders(f)],
      body: Buffer.alloc(0),
      mtls: f.chance(0.7),
    };
  }
  // Framing that lies or overflows, answered at once (a short declared length, bad chunks, over
  // 64 KiB) or after the body timeout (a long declared length).
  const body = encodeBody(f, MUTATIONS.bitFlips!(f, base));
  const lie = f.int(4);
  const huge = Buffer.alloc(65 * 1024 + f.int(64 * 1024), 0x41);
  const framed: Record<number, Partial<FuzzRequest>> = {
    0: { label: 'shorter Content-Length', body, declaredLength: f.int(body.length) },
    1: { label: 'longer Content-Length', body, declaredLength: body.length + 1 + f.int(100) },
    2: {
      label: 'bad chunked framing',
      body: Buffer.concat([Buffer.from(`${f.text(3, '0123456789abcdefxyz')}\r\n`), body, Buffer.from('\r\n0\r\n\r\n')]),
      chunked: true,
    },
    3: {
      label: 'chunked body over 64 KiB',
      body: Buffer.concat([Buffer.from(`${huge.length.toString(16)}\r\n`), huge, Buffer.from('\r\n0\r\n\r\n')]),
      chunked: true,
    },
  };
  return {
    method: 'POST',
    path: f.pick([EST_PATHS.simpleEnroll, EST_PATHS.simpleReenroll]),
    headers: [basic(`device:${fx.token}`), 'Content-Type: application/pkcs10'],
    mtls: false,
    ...(framed[lie] as Pick<FuzzRequest, 'label' | 'body'>),
  };
}

function wire(req: FuzzRequest): Buffer {
  const framing = req.chunked ? ['Transfer-Encoding: chunked'] : [`Content-Length: ${req.declaredLength ?? req.body.length}`];
  const head = [`${req.method} ${req.path} HTTP/1.1`, 'Host: localhost', 'Connection: close', ...req.headers, ...framing, '', ''].join(
    '\r\n',
  );
  return Buffer.concat([Buffer.from(head, 'latin1'), req.body]);
}

/** Status -> the codes documented with it (docs/PROTOCOL.md is checked against the same table). */
const DOCUMENTED = new Map<number, Set<string>>();
for (const [code, info] of Object.entries(ERROR_CODES)) {
  const status = (info as { status?: number }).status;
  if (status !== undefined) DOCUMENTED.set(status, (DOCUMENTED.get(status) ?? new Set()).add(code));
}

function checkReply(req: FuzzRequest, reply: RawReply, problems: string[]): void {
  const what = `${req.label}: ${req.method} ${req.path.slice(0, 80)}`;
  if (reply.status === undefined) return; // the server closed the connection on framing it refused: allowed
  if (reply.status >= 500) problems.push(`${what} -> ${reply.status} ${reply.raw.slice(0, 300)}`);
  else if (reply.status === 200) {
    if (!(req.path.startsWith(EST_PATHS.cacerts) || req.path.startsWith(RENEWAL_INFO_PATH)))
      problems.push(`${what} -> 200 (nothing here may succeed)`);
  } else if (req.method === 'HEAD' ? !DOCUMENTED.has(reply.status) : !DOCUMENTED.get(reply.status)?.has(reply.code ?? '')) {
    // A HEAD answer has no body to carry a code: its status alone must be a documented one.
    problems.push(`${what} -> ${reply.status} with undocumented code ${reply.code}: ${reply.raw.slice(0, 200)}`);
  }
}

async function setUp(server: FleetServer): Promise<{ fixtures: Fixtures; stale: EnrolledDevice }> {
  // Every CSR that survives mutation is refused by policy (id outside the pattern): nothing can be issued.
  const { token, id } = await createToken(server.dataDir, ['--id-pattern', 'allowed-*']);
  const other = await createToken(server.dataDir);
  // The mTLS identity is a superseded certificate: re-enrollment with it parses the CSR, then is refused.
  const stale = await enrollDevice(server, other.token, 'fuzz-device');
  const successor = await deviceCsr('fuzz-device');
  const renewed = await est(server, {
    path: EST_PATHS.simpleReenroll,
    contentType: 'application/pkcs10',
    body: successor.body,
    cert: stale.chainPem,
    key: stale.keyPem,
  });
  assert.is(renewed.status, 200, renewed.body);
  const csrs: Buffer[] = [];
  for (const type of ['ec-p256', 'ec-p384', 'rsa-2048'] as KeyType[]) {
    csrs.push(Buffer.from((await buildCsr({ keys: await generateKeyPair(type), commonName: 'rpi-fuzz-1' })).der));
    csrs.push(
      Buffer.from((await buildCsr({ keys: await generateKeyPair(type), commonName: 'fuzz-device', dnsNames: ['fuzz-device.local'] })).der),
    );
  }
  return { fixtures: { csrs, token, tokenId: id }, stale };
}

test(`fuzz every endpoint: no exit, no 5xx, only documented codes, registry unchanged (seed ${SEED})`, async () => {
  console.log(`est-fuzz: seed ${SEED}, ${REQUESTS} requests (replay: FLEETCERT_FUZZ_SEED=${SEED} npm test -- est-fuzz)`);
  await withTempDir(async (dir) => {
    const server = await startServer(dir, ['--max-auth-failures', '1000000', '--body-timeout', '1s']);
    const problems: string[] = [];
    try {
      const { fixtures, stale } = await setUp(server);
      const before = registrySnapshot(server.dataDir);
      const f = new Fuzz(prng(SEED));
      const requests = Array.from({ length: REQUESTS }, () => makeRequest(f, fixtures));
      const started = Date.now();
      const statuses = new Map<string, number>();
      let index = 0;
      const worker = async (): Promise<void> => {
        while (index < requests.length) {
          const req = requests[index++]!;
          const reply = await rawHttps(server, {
            parts: [wire(req)],
            waitMs: 5_000,
            ...(req.mtls ? { cert: stale.chainPem, key: stale.keyPem } : {}),
          });
          const key = `${reply.status ?? 'closed'} ${reply.code ?? ''}`.trim();
          statuses.set(key, (statuses.get(key) ?? 0) + 1);
          checkReply(req, reply, problems);
        }
      };
      await Promise.all(Array.from({ length: CONCURRENCY }, worker));
      const seconds = (Date.now() - started) / 1000;
      console.log(
        `est-fuzz: ${REQUESTS} requests in ${seconds.toFixed(1)} s;`,
        Object.fromEntries([...statuses].sort((a, b) => b[1] - a[1])),
      );

      assert.equal(problems.slice(0, 20), [], `seed ${SEED}: ${problems.length} bad replies`);
      assert.is((await est(server, { path: EST_PATHS.cacerts, method: 'GET' })).status, 200, 'still serving');
      assert.equal(registrySnapshot(server.dataDir), before, `seed ${SEED}: tokens, devices and certificates unchanged`);
      assert.not.match(server.logs(), /"level":"error"/, `seed ${SEED}: no error logged`);
    } finally {
      const code = await server.stop();
      assert.is(code, 0, `seed ${SEED}: serve exited ${code}`);
    }
  });
});

test.run();
