/**
 * `fleetcert … --help | head`: the reader leaves before the output ends. The CLIs drop the rest and
 * exit 0 (as the command would have), instead of dying of an unhandled EPIPE with a stack trace.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { AGENT_MAIN, SERVER_MAIN } from '../helpers/cli.js';
import { run } from '../helpers/run.js';

const cases: [string, string][] = [
  [AGENT_MAIN, '--help'],
  [AGENT_MAIN, 'run --help'],
  [SERVER_MAIN, 'init --help'],
  [SERVER_MAIN, 'device list --help'],
];

test('help piped into a reader that stops early: exit 0, no EPIPE', async () => {
  for (const [main, args] of cases) {
    // Several tries: whether the reader has gone before the write is a race; the old code lost it almost every time.
    for (let i = 0; i < 3; i += 1) {
      const res = await run('bash', ['-o', 'pipefail', '-c', `"${process.execPath}" "${main}" ${args} | head -c 1 >/dev/null`]);
      assert.not.match(res.stderr, /EPIPE|Unhandled/, `${args}: ${res.stderr.slice(0, 200)}`);
      assert.is(res.code, 0, args);
    }
  }
});

test.run();
