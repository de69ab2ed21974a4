import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdir, readFile, readlink, stat, writeFile } from 'node:fs/promises';
import { stateLayout } from '#agent/config/state-layout.js';
import { chooseGeneration } from '#agent/credentials/choose-generation.js';
import { CredentialStore } from '#agent/credentials/credential-store.js';
import { verifyIssued } from '#agent/credentials/verify-issued.js';
import { silentLogger } from '#shared/log/logger.js';
import { exportPublicKeySpki } from '#shared/pki/key-pair.js';
import { expectCode } from '../../../helpers/expect-error.js';
import { memoryLog } from '../../../helpers/memory-log.js';
import { withTempDir } from '../../../helpers/temp-dir.js';
import { issueDevice, makeTestPki } from '../../../helpers/test-pki.js';

test('the pending key is written 0600 once and reused until installed', async () => {
  await withTempDir(async (dir) => {
    const layout = stateLayout(dir);
    const store = new CredentialStore(layout, silentLogger);
    const first = await store.pendingKey('ec-p256');
    assert.ok(first.created);
    assert.is((await stat(layout.pending.key)).mode & 0o777, 0o600);
    assert.is((await stat(dir)).mode & 0o777, 0o700);
    const again = await store.pendingKey('ec-p256');
    assert.not.ok(again.created);
    assert.equal(await exportPublicKeySpki(again.keys), await exportPublicKeySpki(first.keys));
  });
});

test('install: a new generation, the live link swapped, the previous kept, older ones pruned', async () => {
  await withTempDir(async (dir) => {
    const layout = stateLayout(dir);
    const store = new CredentialStore(layout, silentLogger);
    const pki = await makeTestPki();
    const serials: string[] = [];
    for (let i = 0; i < 3; i += 1) {
      const { keys } = await store.pendingKey('ec-p256');
      const { certificate } = await issueDevice(pki, 'dev-1', { keys });
      const live = await store.install(certificate, [certificate, pki.intermediate.certificate], pki.root.certificate);
      serials.push(live.certificate.serialNumber);
    }
    assert.is(await readlink(layout.live.dir), 'generations/000003');
    assert.equal((await readdir(layout.generationsDir)).sort(), ['000002', '000003']);
    assert.equal((await readdir(dir)).sort(), ['generations', 'live']);
    const live = await store.live();
    assert.is(live?.generation, '000003');
    assert.is(live?.certificate.serialNumber, serials[2]);
    assert.match(await readFile(layout.live.chain, 'utf8'), /(BEGIN CERTIFICATE[\s\S]*){2}/);
    assert.is((await stat(layout.live.key)).mode & 0o777, 0o600);
  });
});

test('two-phase install: a candidate beside live, found again by live(), then committed; prune never removes live', async () => {
  await withTempDir(async (dir) => {
    const { layout, store, serials } = await twoGenerations(dir);
    const pki = await makeTestPki();
    const { keys } = await store.pendingKey('ec-p256');
    const { certificate } = await issueDevice(pki, 'dev-1', { keys });
    const candidate = await store.installCandidate(certificate, [certificate, pki.intermediate.certificate], pki.root.certificate);
    assert.is(candidate.generation, '000003');
    assert.is(await readlink(layout.live.dir), 'generations/000002', 'live does not move before the proof');
    const live = await store.live();
    assert.is(live?.certificate.serialNumber, serials[1]);
    assert.is(live?.candidate?.generation, '000003');
    assert.is(live?.candidate?.files.dir, layout.generation('000003').dir);
    assert.is(await store.hasPendingKey(), false, 'the pending key moved into the candidate');
    const committed = await store.commit(live!.candidate!);
    assert.is(committed.generation, '000003');
    assert.is(await readlink(layout.live.dir), 'generations/000003');
    assert.equal((await readdir(layout.generationsDir)).sort(), ['000002', '000003']);
    assert.is((await store.live())?.candidate, undefined);
  });
});

test('verifyIssued refuses a certificate for another key, another id, or another CA', async () => {
  const pki = await makeTestPki();
  const mine = await issueDevice(pki, 'dev-1');
  const other = await issueDevice(pki, 'dev-1');
  const base = { keys: mine.keys, deviceId: 'dev-1', root: pki.root.certificate, now: new Date() };
  await verifyIssued({ ...base, chain: [mine.certificate, pki.intermediate.certificate] });
  await expectCode(() => verifyIssued({ ...base, chain: [other.certificate, pki.intermediate.certificate] }), 'issued_certificate_invalid');
  await expectCode(
    () => verifyIssued({ ...base, deviceId: 'dev-2', chain: [mine.certificate, pki.intermediate.certificate] }),
    'issued_certificate_invalid',
  );
  const foreign = await makeTestPki(new Date(), 'ec-p256', 'Foreign');
  await expectCode(
    () => verifyIssued({ ...base, root: foreign.root.certificate, chain: [mine.certificate, pki.intermediate.certificate] }),
    'issued_certificate_invalid',
  );
  await expectCode(
    () => verifyIssued({ ...base, now: new Date('1970-01-02T00:00:00Z'), chain: [mine.certificate, pki.intermediate.certificate] }),
    'clock_not_set',
  );
});

/** Two installed generations of the same device: the previous one is what a fallback finds. */
async function twoGenerations(dir: string) {
  const layout = stateLayout(dir);
  const logged = memoryLog();
  const store = new CredentialStore(layout, logged.log);
  const pki = await makeTestPki();
  const serials: string[] = [];
  for (let i = 0; i < 2; i += 1) {
    const { keys } = await store.pendingKey('ec-p256');
    const { certificate } = await issueDevice(pki, 'dev-1', { keys });
    serials.push(
      (await store.install(certificate, [certificate, pki.intermediate.certificate], pki.root.certificate)).certificate.serialNumber,
    );
  }
  return { layout, store, logged, serials };
}

/** Changes one base64 character inside the private scalar of a P-256 PKCS#8 PEM. */
async function flipKeyByte(path: string): Promise<void> {
  const lines = (await readFile(path, 'utf8')).split('\n');
  const body = lines[1]!;
  lines[1] = body.slice(0, 52) + (body[52] === 'A' ? 'B' : 'A') + body.slice(53);
  await writeFile(path, lines.join('\n'));
}

test('live(): an empty store (or only a pending key) is not enrolled; nothing else is', async () => {
  await withTempDir(async (dir) => {
    const store = new CredentialStore(stateLayout(dir), silentLogger);
    assert.is(await store.live(), undefined);
    await store.pendingKey('ec-p256');
    assert.is(await store.live(), undefined, 'a first enrollment in progress');
  });
});

test('live(): a truncated live certificate falls back to the previous generation, logged, and the link follows', async () => {
  await withTempDir(async (dir) => {
    const { layout, store, logged, serials } = await twoGenerations(dir);
    const pem = await readFile(layout.live.cert, 'utf8');
    await writeFile(layout.live.cert, pem.slice(0, pem.length / 2));
    const live = await store.live();
    assert.is(live?.generation, '000001');
    assert.is(live?.certificate.serialNumber, serials[0]);
    assert.is(await readlink(layout.live.dir), 'generations/000001');
    assert.equal((await readdir(layout.generationsDir)).sort(), ['000001', '000002.corrupt']);
    const [event] = logged.events('credentials_fallback');
    assert.ok(event, 'credentials_fallback logged');
    assert.is(event.generation, '000001');
    assert.is(event.unusable, '000002');
    assert.match(String(event.problem), /does not parse/);
    assert.is((await store.live())?.generation, '000001', 'stable once fallen back');
    assert.is(logged.events('credentials_fallback').length, 1, 'logged once, not on every read');
  });
});

test('live(): a key that no longer proves its certificate (one flipped byte) falls back too', async () => {
  await withTempDir(async (dir) => {
    const { layout, store, logged } = await twoGenerations(dir);
    await flipKeyByte(layout.live.key);
    assert.is((await store.live())?.generation, '000001');
    assert.match(String(logged.events('credentials_fallback')[0]?.problem), /is not the key of/);
  });
});

test('live(): a corrupt generation with nothing to fall back to is credentials_corrupt, never "not enrolled"', async () => {
  await withTempDir(async (dir) => {
    const { layout, store } = await twoGenerations(dir);
    await flipKeyByte(layout.live.key);
    await writeFile(layout.generation('000001').cert, '');
    const err = await expectCode(() => store.live(), 'credentials_corrupt');
    assert.match(err.message, /no complete generation to fall back to/);
    assert.match(err.hint ?? '', /move .*live and .*generations/);
    assert.not.match(err.message + (err.hint ?? ''), /PRIVATE KEY/);
  });
});

test('chooseGeneration: the rule, case by case', () => {
  const ok = (name: string) => ({ name, complete: true as const, certificate: undefined as never });
  const bad = (name: string) => ({ name, complete: false as const, problem: `${name} broken` });
  const kind = (
    live: Parameters<typeof chooseGeneration>[0]['live'],
    generations: Parameters<typeof chooseGeneration>[0]['generations'],
  ) => {
    const c = chooseGeneration({ live, generations });
    if (c.kind === 'live') return `live:${c.generation.name}${c.candidate ? ` candidate:${c.candidate.name}` : ''}`;
    return c.kind === 'fallback' ? `${c.kind}:${c.generation.name}` : c.kind;
  };
  const link = (target: string) => ({ kind: 'link' as const, target });
  assert.is(kind({ kind: 'absent' }, []), 'not_enrolled');
  assert.is(kind(link('000002'), [ok('000001'), ok('000002')]), 'live:000002');
  assert.is(kind(link('000001'), [ok('000001'), ok('000002')]), 'live:000001 candidate:000002', 'renewed, not yet proven and committed');
  assert.is(
    kind(link('000001'), [ok('000001'), ok('000002'), ok('000003')]),
    'live:000001 candidate:000003',
    "the newest is the server's current",
  );
  assert.is(kind(link('000001'), [ok('000001'), bad('000002')]), 'live:000001', 'an incomplete newer generation is no candidate');
  assert.is(kind({ kind: 'absent' }, [ok('000001'), ok('000002')]), 'fallback:000002', 'no live at all: the newest complete one');
  assert.is(kind(link('000002'), [ok('000001'), bad('000002')]), 'fallback:000001');
  assert.is(kind(link('000003'), [ok('000001'), ok('000002')]), 'fallback:000002', 'a dangling link');
  assert.is(kind({ kind: 'absent' }, [ok('000001')]), 'fallback:000001', 'installed, link not yet swapped');
  assert.is(kind({ kind: 'unreadable', problem: 'a directory' }, [ok('000001')]), 'fallback:000001');
  assert.is(kind(link('000002'), [bad('000001'), bad('000002')]), 'corrupt');
  assert.is(kind({ kind: 'absent' }, [bad('000001')]), 'corrupt', 'a key exists: never "not enrolled"');
  assert.is(kind(link('000001'), []), 'corrupt');
});

test.run();
