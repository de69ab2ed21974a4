// One process of scripts/fleet-sim.mjs's simulated fleet: a slice of the devices, each with its
// own key made here before the clock starts (the workers make the keys in parallel, one per
// core), enrolled over EST on a fresh TLS connection, then connected to Mosquitto over mTLS with
// its issued certificate (MQTT.js, protocol 5, client id = device id) and its retained status
// published at QoS 1, then held connected. In --renewal-storm mode each device instead runs the
// agent's own RenewalScheduler (dist/agent/renewal) against the real server: renewal info over
// mTLS, and at the moment the scheduler picks, simplereenroll with a new key.
// Driven by the parent over IPC: init -> run -> (count | reconnect | storm)* -> stop.
import { X509Certificate } from 'node:crypto';
import { request } from 'node:https';
import { createSecureContext } from 'node:tls';
import { join } from 'node:path';
import { ROOT } from './setup.mjs';

const dist = (path) => import(join(ROOT, 'dist', path));
const { default: mqtt } = await import('mqtt');
const { buildCsr } = await dist('shared/pki/csr.js');
const { exportPrivateKeyPem, generateKeyPair } = await dist('shared/pki/key-pair.js');
const { DerReader } = await dist('shared/pki/der-reader.js');
const { toPem } = await dist('shared/pki/encoding.js');
const { EST_PATHS } = await dist('shared/protocol/est.js');
const { deviceTopics } = await dist('shared/protocol/topics.js');
const { RENEWAL_INFO_PATH, renewalInfoSchema, renewalInfoWindow } = await dist('shared/protocol/renewal-info.js');
const { silentLogger } = await dist('shared/log/logger.js');
const { RENEWAL_BACKOFF } = await dist('shared/retry/backoff.js');
const { RenewalScheduler } = await dist('agent/renewal/renewal-scheduler.js');
const { statusPayload } = await dist('agent/mqtt/device-connection.js');

let cfg;
/** The EST client's TLS context (trust only), made once: each request is still a fresh connection and a full handshake. */
let estContext;
/** id -> { csr, keyPem, next?: {csr, keyPem}, chainPem?, leaf?, client?, renewedAt? } */
const devices = new Map();
const closed = [];

const send = (message) => process.send(message);

async function makeKey(id) {
  const keys = await generateKeyPair();
  const csr = await buildCsr({ keys, commonName: id });
  return { csr: Buffer.from(csr.der).toString('base64'), keyPem: await exportPrivateKeyPem(keys) };
}

/**
 * The chain is verified against the fleet's CA on every connection, but not the host name (the
 * servers' certificates name localhost): Node's check reads the whole peer certificate into JS,
 * the largest cost of a simulated device after its handshakes.
 */
const skipHostnameCheck = () => undefined;

/** One HTTPS request on its own TLS connection (no keep-alive, no session reuse). */
function https(path, { method = 'POST', body, token, cert, key } = {}) {
  return new Promise((resolve, reject) => {
    const headers = {};
    if (body !== undefined) headers['content-type'] = 'application/pkcs10';
    if (token) headers.authorization = `Basic ${Buffer.from(`device:${token}`).toString('base64')}`;
    const req = request(
      {
        host: '127.0.0.1',
        port: cfg.port,
        servername: 'localhost',
        path,
        method,
        headers,
        ...(cert ? { ca: cfg.ca, cert, key } : { secureContext: estContext }),
        checkServerIdentity: skipHostnameCheck,
        agent: false,
      },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      },
    );
    req.setTimeout(60_000, () => req.destroy(new Error('no answer within 60 s')));
    req.on('error', reject);
    req.end(body);
  });
}

/** POSTs a CSR until it is answered (a 503 server_busy is load shaping: come back after Retry-After plus jitter). */
async function enrollOnce(path, csr, auth) {
  let busy = 0;
  for (;;) {
    const res = await https(path, { body: csr, ...auth });
    if (res.status === 503 && busy < 50) {
      busy += 1;
      const seconds = Number(res.headers['retry-after'] ?? 1);
      await new Promise((r) => setTimeout(r, seconds * 1000 * (1 + 0.5 * Math.random())));
      continue;
    }
    if (res.status !== 200) throw new Error(`${path}: ${res.status} ${res.body.slice(0, 200)}`);
    const certs = certsOnly(Buffer.from(res.body.replace(/\s+/g, ''), 'base64'));
    const leaf = new X509Certificate(certs[0]);
    return {
      chainPem: certs.map((der) => toPem(der, 'CERTIFICATE')).join(''),
      leaf: { serialNumber: leaf.serialNumber.toLowerCase(), notBefore: new Date(leaf.validFrom), notAfter: new Date(leaf.validTo) },
      busy,
    };
  }
}

/**
 * The certificates of an EST reply (PKCS#7 certs-only), walked with the project's strict DER
 * reader: @peculiar/x509's general ASN.1 parser cost the simulated devices more CPU than the
 * server spent issuing. (The agent itself reads replies with shared/pki/pkcs7.ts.)
 */
function certsOnly(der) {
  const r = new DerReader(new Uint8Array(der), 'pkcs7_invalid');
  const [, explicit] = r.children(r.root());
  const [signedData] = r.children(explicit);
  const certificates = r.children(signedData).find((e) => e.tag === 0xa0);
  return r.children(certificates).map((e) => r.encoding(e));
}

function connect(id, device, reconnect = false) {
  return new Promise((resolve, reject) => {
    const client = mqtt.connect(`mqtts://127.0.0.1:${cfg.brokerPort}`, {
      protocolVersion: 5,
      clientId: id,
      ca: cfg.ca,
      cert: device.chainPem,
      key: device.keyPem,
      servername: 'localhost',
      rejectUnauthorized: true,
      checkServerIdentity: skipHostnameCheck,
      noDelay: true,
      writeCache: false,
      reconnectPeriod: 0,
      connectTimeout: 30_000,
      will: { topic: deviceTopics(id).status, payload: Buffer.from('{"state":"offline"}'), qos: 1, retain: true },
    });
    client.once('connect', () => {
      client.publish(deviceTopics(id).status, statusPayload('online', device.leaf, 'fleet-sim'), { qos: 1, retain: true }, (err) => {
        if (err) return reject(err);
        if (!reconnect) client.once('close', () => closed.push({ id, at: Date.now() }));
        resolve(client);
      });
    });
    client.once('error', (err) => {
      client.end(true);
      reject(err);
    });
    client.once('close', () => reject(new Error('closed before the status was acknowledged')));
  });
}

async function run({ concurrency, connectToBroker }) {
  const ids = [...devices.keys()];
  const enrollMs = [];
  const connectMs = [];
  const errors = [];
  const issuedAt = [];
  let busy = 0;
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < ids.length) {
        const id = ids[next++];
        const device = devices.get(id);
        try {
          let t = performance.now();
          Object.assign(device, await enrollOnce(EST_PATHS.simpleEnroll, device.csr, { token: cfg.token }));
          enrollMs.push(performance.now() - t);
          busy += device.busy;
          issuedAt.push(Date.now());
          if (!connectToBroker) continue;
          t = performance.now();
          device.client = await connect(id, device);
          connectMs.push(performance.now() - t);
        } catch (err) {
          errors.push(`${id}: ${err.message}`);
        }
      }
    }),
  );
  return { enrollMs, connectMs, errors, busy, issuedAt };
}

/** The agent's renewal timing for every device of this slice; resolves when each has renewed once (or at the deadline). */
function storm({ cronExpression, deadlineMs, hintConcurrency }) {
  const renewals = [];
  const failures = [];
  const schedulers = [];
  let hintsInFlight = 0;
  const waiting = [];
  // At most hintConcurrency renewal-info requests at once: 10,000 schedulers start together here, devices do not.
  const hintSlot = () => {
    if (hintsInFlight >= hintConcurrency) return new Promise((r) => waiting.push(r));
    hintsInFlight += 1;
    return Promise.resolve();
  };
  // A finished request hands its slot to the next in line.
  const releaseHint = () => {
    const next = waiting.shift();
    if (next) next();
    else hintsInFlight -= 1;
  };
  return new Promise((resolve) => {
    const finish = () => {
      for (const s of schedulers) s.stop();
      resolve({ renewals, failures });
    };
    const deadline = setTimeout(finish, deadlineMs);
    for (const [id, device] of devices) {
      if (!device.leaf) continue;
      const live = () => ({ serial: device.leaf.serialNumber, notBefore: device.leaf.notBefore, notAfter: device.leaf.notAfter });
      const scheduler = new RenewalScheduler({
        cronExpression,
        readValidity: async () => live(),
        readHint: async () => {
          await hintSlot();
          try {
            const res = await https(RENEWAL_INFO_PATH, { method: 'GET', cert: device.chainPem, key: device.keyPem });
            if (res.status !== 200) return undefined;
            const info = renewalInfoSchema.parse(JSON.parse(res.body));
            const retryAfter = Number(res.headers['retry-after']);
            return {
              serial: info.serial,
              window: renewalInfoWindow(info),
              reason: info.reason,
              retryAfterSeconds: retryAfter || undefined,
            };
          } finally {
            releaseHint();
          }
        },
        renew: async () => {
          const at = Date.now();
          try {
            const renewed = await enrollOnce(EST_PATHS.simpleReenroll, device.next.csr, { cert: device.chainPem, key: device.keyPem });
            Object.assign(device, renewed, { keyPem: device.next.keyPem });
            renewals.push({ id, at, ms: Date.now() - at });
          } catch (err) {
            failures.push(`${id}: ${err.message}`);
            throw err;
          }
        },
        // One renewal per device is the experiment: a device whose certificate changed is done.
        onNewCertificate: async () => {
          scheduler.stop();
          if (renewals.length >= schedulers.length) {
            clearTimeout(deadline);
            finish();
          }
        },
        backoff: RENEWAL_BACKOFF,
        log: silentLogger,
      });
      schedulers.push(scheduler);
      scheduler.start(device.leaf.serialNumber);
    }
  });
}

async function handle(message) {
  try {
    if (message.type === 'init') {
      cfg = message;
      estContext = createSecureContext({ ca: cfg.ca });
      const started = performance.now();
      for (const id of message.ids) {
        const device = await makeKey(id);
        if (message.storm) device.next = await makeKey(id);
        devices.set(id, device);
      }
      send({ type: 'ready', ms: performance.now() - started });
    } else if (message.type === 'run') {
      send({ type: 'ran', ...(await run(message)) });
    } else if (message.type === 'count') {
      const connected = [...devices.values()].filter((d) => d.client?.connected).length;
      send({ type: 'count', connected, closed: [...closed] });
    } else if (message.type === 'reconnect') {
      const device = devices.get(message.id);
      const outcome = await connect(message.id, device, true).then(
        (client) => (client.end(true), { ok: true }),
        (err) => ({ ok: false, error: err.message }),
      );
      send({ type: 'reconnect', id: message.id, ...outcome });
    } else if (message.type === 'storm') {
      send({ type: 'stormed', ...(await storm(message)) });
    } else if (message.type === 'stop') {
      await Promise.all([...devices.values()].map((d) => d.client && d.client.endAsync(true)));
      process.exit(0);
    }
  } catch (err) {
    send({ type: 'error', error: err.stack ?? String(err) });
  }
}

process.on('message', (message) => void handle(message));
send({ type: 'loaded' });
