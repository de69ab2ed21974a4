/**
 * The folder rules that keep the architecture honest, checked on the source:
 * agent/ and server/ never import each other; shared/ imports neither;
 * only shared/pki/x509-provider.ts imports @peculiar/x509 (after reflect-metadata);
 * issuing is the server's: nothing in agent/ or shared/ imports server/authority or server/pki,
 * and shared/ builds no certificate, CRL or PKCS#7.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { REPO_ROOT } from '../helpers/repo.js';

const ROOT = REPO_ROOT;

async function sources(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(join(ROOT, dir), { withFileTypes: true })) {
    const rel = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await sources(rel)));
    else if (entry.name.endsWith('.ts')) out.push(rel);
  }
  return out;
}

function imports(text: string): string[] {
  return [
    ...text.matchAll(
      /(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s*['"]([^'"]+)['"]|import\s*\(\s*['"]([^'"]+)['"]|(?:^|\n)\s*import\s+['"]([^'"]+)['"]/g,
    ),
  ].map((m) => m[1] ?? m[2] ?? m[3] ?? '');
}

async function topFoldersImportedBy(folder: string): Promise<Map<string, string[]>> {
  const found = new Map<string, string[]>();
  for (const file of await sources(folder)) {
    for (const spec of imports(await readFile(join(ROOT, file), 'utf8'))) {
      if (!spec.startsWith('.')) continue;
      const target = relative(ROOT, resolve(ROOT, dirname(file), spec)).split('/')[0]!;
      found.set(target, [...(found.get(target) ?? []), file]);
    }
  }
  return found;
}

test('the import scanner sees relative imports (self-check)', () => {
  assert.equal(
    imports(`import { a } from '../server/x.js';\nexport * from './y.js';\nimport 'reflect-metadata';\nawait import('../agent/z.js');`),
    ['../server/x.js', './y.js', 'reflect-metadata', '../agent/z.js'],
  );
});

test('agent/ never imports server/, server/ never imports agent/, shared/ imports neither', async () => {
  const agent = await topFoldersImportedBy('agent');
  const server = await topFoldersImportedBy('server');
  const shared = await topFoldersImportedBy('shared');
  assert.equal(agent.get('server') ?? [], [], 'agent imports server');
  assert.equal(server.get('agent') ?? [], [], 'server imports agent');
  assert.equal([...(shared.get('agent') ?? []), ...(shared.get('server') ?? [])], [], 'shared imports agent/server');
  assert.ok((agent.get('shared') ?? []).length > 0 && (server.get('shared') ?? []).length > 0, 'both use shared/');
});

test('only shared/pki/x509-provider.ts imports @peculiar/x509, and it loads reflect-metadata first', async () => {
  const users: string[] = [];
  for (const folder of ['agent', 'server', 'shared']) {
    for (const file of await sources(folder)) {
      const specs = imports(await readFile(join(ROOT, file), 'utf8'));
      if (specs.includes('@peculiar/x509')) users.push(file);
    }
  }
  assert.equal(users, ['shared/pki/x509-provider.ts']);
  const specs = imports(await readFile(join(ROOT, users[0]!), 'utf8'));
  assert.ok(specs.indexOf('reflect-metadata') < specs.indexOf('@peculiar/x509'));
});

/** Library calls that build and sign what only a CA signs (a CSR, which the agent builds, is not one). */
const BUILDING = /\b(X509CertificateGenerator|X509CrlGenerator|X509Certificates\b[^;]*\.export)\b/;

test('issuing is server-side: agent/ and shared/ import neither server/authority nor server/pki, and build nothing', async () => {
  const offenders: string[] = [];
  for (const folder of ['agent', 'shared']) {
    for (const file of await sources(folder)) {
      const text = await readFile(join(ROOT, file), 'utf8');
      const targets = imports(text)
        .filter((s) => s.startsWith('.'))
        .map((s) => relative(ROOT, resolve(ROOT, dirname(file), s)));
      for (const target of targets) if (/^server\/(authority|pki)\//.test(target)) offenders.push(`${file} imports ${target}`);
      if (BUILDING.test(text)) offenders.push(`${file} builds certificates, CRLs or PKCS#7 (${BUILDING.exec(text)![1]})`);
    }
  }
  assert.equal(offenders, []);
  assert.ok(BUILDING.test('x509.X509CertificateGenerator.create({})'), 'the pattern sees certificate building (self-check)');
  assert.ok(BUILDING.test("new x509.X509Certificates([...c]).export('raw')"), 'the pattern sees PKCS#7 building (self-check)');
});

/** Every text file the repository tracks that code or docs live in (not fixtures, not generated). */
async function trackedTexts(): Promise<string[]> {
  const out: string[] = [];
  for (const top of ['agent', 'server', 'shared', 'test', 'scripts', 'docs', 'deploy', '.ci']) {
    const walk = async (dir: string): Promise<void> => {
      for (const entry of await readdir(join(ROOT, dir), { withFileTypes: true })) {
        const rel = join(dir, entry.name);
        if (entry.isDirectory()) {
          if (rel !== join('test', 'fixtures')) await walk(rel);
        } else if (/\.(ts|mjs|md|json|service|timer|sh)$|^run$/.test(entry.name)) out.push(rel);
      }
    };
    await walk(top);
  }
  return [...out, 'README.md', 'package.json'];
}

test('the repository is self-contained: no file reads or cites anything beside the clone', async () => {
  // The design notes and board files of the workspace the project grew in are not part of a clone.
  const outside = /\.\.\/shared\/boards|shared\/(DESIGN|STYLE)\.md|\b(DESIGN|STYLE)\.md\b|\/work\/(main|shared)\b/;
  const offenders: string[] = [];
  for (const file of await trackedTexts()) {
    if (file === join('test', 'unit', 'architecture.test.ts')) continue;
    const text = await readFile(join(ROOT, file), 'utf8');
    const match = outside.exec(text);
    if (match) offenders.push(`${file}: ${match[0]}`);
  }
  assert.equal(offenders, []);
});

test('no tracked file holds a private-key block: tests generate their keys per run', async () => {
  // Assembled, so that this file does not match itself.
  const block = new RegExp(['-----BEGIN', '[A-Z ]*PRIVATE KEY-----'].join(' ?'));
  const offenders: string[] = [];
  for (const file of await trackedTexts()) {
    if (block.test(await readFile(join(ROOT, file), 'utf8'))) offenders.push(file);
  }
  assert.equal(offenders, []);
});

test('tests reach agent/, server/ and shared/ through #agent, #server and #shared (package.json "imports"), never ../', async () => {
  const offenders: string[] = [];
  for (const file of await sources('test')) {
    if (file === join('test', 'unit', 'architecture.test.ts')) continue; // its self-check quotes ../ imports
    for (const spec of imports(await readFile(join(ROOT, file), 'utf8'))) {
      if (/^(\.\.\/)+(agent|server|shared)\//.test(spec)) offenders.push(`${file}: ${spec}`);
    }
  }
  assert.equal(offenders, []);
});

test('source lines are bounded: at most 160 characters', async () => {
  const long: string[] = [];
  for (const file of (await trackedTexts()).filter((f) => /\.(ts|mjs)$/.test(f))) {
    (await readFile(join(ROOT, file), 'utf8')).split('\n').forEach((line, i) => {
      if (line.length > 160) long.push(`${file}:${i + 1} (${line.length})`);
    });
  }
  assert.equal(long, []);
});

test.run();
