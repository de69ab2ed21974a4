/**
 * Every command of both programs, found by walking their --help (so a new command is covered
 * without editing this file): its help shows examples, and with --json and bad input its stdout
 * is exactly one JSON error with a known code whose exit class is the exit code.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EXIT, exitCodeFor } from '#shared/cli/exit-codes.js';
import { ERROR_CODES, type ErrorCode } from '#shared/errors.js';
import { isWireErrorCode } from '#shared/protocol/error-codes.js';
import { fleetcert, fleetcertAgent } from '../helpers/cli.js';
import type { RunOptions, RunResult } from '../helpers/run.js';
import { withTempDir } from '../helpers/temp-dir.js';

type Program = (args: readonly string[], options?: RunOptions) => Promise<RunResult>;

const PROGRAMS: ReadonlyArray<[string, Program]> = [
  ['fleetcert', fleetcert],
  ['fleetcert-agent', fleetcertAgent],
];

/** The leaf commands under `path`, from the "Commands:" section of each --help. */
async function leafCommands(program: Program, path: readonly string[] = []): Promise<string[][]> {
  const help = await program([...path, '--help']);
  assert.is(help.code, 0, `${path.join(' ')} --help: ${help.stderr}`);
  const section = /\nCommands:\n([\s\S]*?)(?:\n\n|$)/.exec(help.stdout)?.[1];
  if (section === undefined) return [[...path]];
  const names = [...section.matchAll(/^ {2}([a-z][a-z-]*)/gm)].map((m) => m[1]!).filter((name) => name !== 'help');
  const leaves: string[][] = [];
  for (const name of names) leaves.push(...(await leafCommands(program, [...path, name])));
  return leaves;
}

const commands = new Map<string, { program: Program; path: string[] }>();
for (const [name, program] of PROGRAMS) {
  for (const path of await leafCommands(program)) commands.set([name, ...path].join(' '), { program, path });
}

/**
 * Input each command must refuse, and the code it must refuse it with. `<empty>` is a directory
 * with nothing in it (no CA, no credentials, no bootstrap file); `<file>` a file that is not JSON.
 */
const BAD_INPUT: Record<string, { args: string[]; code: ErrorCode }> = {
  'fleetcert init': { args: ['--data-dir', '<empty>/data', '--key-type', 'dsa-512'], code: 'usage' },
  'fleetcert serve': { args: ['--data-dir', '<empty>'], code: 'ca_missing' },
  'fleetcert token create': { args: ['--data-dir', '<empty>', '--expires', 'soon'], code: 'usage' },
  'fleetcert token list': { args: ['--data-dir', '<empty>'], code: 'ca_missing' },
  'fleetcert token revoke': { args: ['no-such-token', '--data-dir', '<empty>'], code: 'ca_missing' },
  'fleetcert device list': { args: ['--data-dir', '<empty>'], code: 'ca_missing' },
  'fleetcert device show': { args: ['no-such-device', '--data-dir', '<empty>'], code: 'ca_missing' },
  'fleetcert device approve': { args: ['x', '--key-sha256', 'not-hex', '--data-dir', '<empty>'], code: 'usage' },
  'fleetcert device reset': { args: ['no-such-device', '--data-dir', '<empty>'], code: 'ca_missing' },
  'fleetcert device revoke': { args: ['no-such-device', '--data-dir', '<empty>'], code: 'ca_missing' },
  'fleetcert broker-config': { args: ['--data-dir', '<empty>', '--port', '70000'], code: 'usage' },
  'fleetcert crl publish': { args: ['--data-dir', '<empty>'], code: 'ca_missing' },
  'fleetcert renew-now': { args: ['--data-dir', '<empty>'], code: 'usage' },
  'fleetcert admin issue': { args: ['alice', '--p12-out', '<empty>/a.p12', '--data-dir', '<empty>'], code: 'ca_missing' },
  'fleetcert admin passwd': { args: ['alice', '--data-dir', '<empty>'], code: 'ca_missing' },
  'fleetcert image bake': { args: ['<file>', '--bootstrap', '<empty>/none.json', '--agent', '<file>'], code: 'bootstrap_missing' },
  'fleetcert admin remove': { args: ['alice', '--data-dir', '<empty>'], code: 'ca_missing' },
  'fleetcert db migrate': { args: ['--database', 'mysql://db.example/fleetcert'], code: 'usage' },
  'fleetcert db copy': { args: ['--from', '<file>', '--to', 'postgres://fleetcert@127.0.0.1:1/fleetcert'], code: 'config_invalid' },
  'fleetcert service issue': {
    args: ['nodered', '--read', 'devices/#/x', '--p12-out', '<empty>/n.p12', '--data-dir', '<empty>'],
    code: 'usage',
  },
  'fleetcert service renew': { args: ['nodered', '--out-dir', '<empty>/n', '--lifetime', 'soon', '--data-dir', '<empty>'], code: 'usage' },
  'fleetcert service list': { args: ['--data-dir', '<empty>'], code: 'ca_missing' },
  'fleetcert service revoke': { args: ['nodered', '--data-dir', '<empty>'], code: 'ca_missing' },
  'fleetcert crl sync': { args: ['--url', 'ftp://db.example/crl', '--out', '<empty>/crl.pem', '--ca', '<file>'], code: 'usage' },
  'fleetcert-agent run': { args: ['--state-dir', '<empty>', '--bootstrap', '<file>'], code: 'bootstrap_invalid' },
  'fleetcert-agent enroll': {
    args: ['--state-dir', '<empty>', '--bootstrap', '<empty>/none.json', '--timeout', '1'],
    code: 'bootstrap_missing',
  },
  'fleetcert-agent renew': { args: ['--state-dir', '<empty>'], code: 'not_enrolled' },
  'fleetcert-agent needs-renewal': { args: ['--state-dir', '<empty>'], code: 'not_enrolled' },
  'fleetcert-agent status': { args: ['--state-dir', '<empty>'], code: 'not_enrolled' },
  'fleetcert-agent publish': { args: ['--state-dir', '<empty>', '--file', '<empty>/none', 'telemetry'], code: 'usage' },
  'fleetcert-agent discover': { args: ['--timeout', 'soon'], code: 'usage' },
  'fleetcert-agent move-token': { args: ['--config', '<file>'], code: 'config_invalid' },
};

test('the walk finds both programs and every documented command', () => {
  assert.ok(commands.has('fleetcert device list'));
  assert.ok(commands.has('fleetcert-agent move-token'));
  assert.equal([...commands.keys()].sort(), Object.keys(BAD_INPUT).sort(), 'every command has bad input in BAD_INPUT');
});

for (const [name, { program, path }] of commands) {
  test(`${name} --help shows examples of itself`, async () => {
    const help = await program([...path, '--help']);
    const examples = /\nExamples:\n([\s\S]*)$/.exec(help.stdout)?.[1] ?? '';
    assert.match(examples, name, `${name} --help has no "Examples:" section running ${name}`);
  });

  test(`${name} --json with an unknown option: a JSON usage error on stdout, exit 2`, async () => {
    const res = await program([...path, '--json', '--no-such-option']);
    assert.is(res.code, EXIT.usage, res.stderr);
    assert.equal(JSON.parse(res.stdout).code, 'usage', res.stdout);
    assert.match(res.stderr, /error: /, 'and a person is told on stderr');
  });

  test(`${name} --json with bad input: one JSON error with its code, exit code of its class`, async () => {
    await withTempDir(async (dir) => {
      const empty = join(dir, 'empty');
      await mkdir(empty);
      await writeFile(join(dir, 'file'), 'not json');
      const bad = BAD_INPUT[name];
      assert.ok(bad, `no bad input for ${name}`);
      const args = bad.args.map((a) => a.replace('<empty>', empty).replace('<file>', join(dir, 'file')));
      const res = await program([...path, ...args, '--json'], { timeoutMs: 20_000 });
      const lines = res.stdout.trim().split('\n');
      assert.is(lines.length, 1, `${name}: ${res.stdout}`);
      const body = JSON.parse(lines[0]!) as { ok: boolean; code: string; message: string };
      assert.is(body.ok, false);
      assert.ok(body.code in ERROR_CODES || isWireErrorCode(body.code), `unknown code ${body.code}`);
      assert.is(body.code, bad.code, `${name}: ${res.stderr}`);
      assert.is(res.code, exitCodeFor(bad.code), res.stderr);
    });
  });
}

test.run();
