/** The status file: what `status` concludes from it (pure, fixed times), and that retries do not rewrite it. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { agentHealth, readAgentStatus, StatusFile, type ReadStatus } from '#agent/runtime/agent-status.js';
import { memoryLog } from '../../../helpers/memory-log.js';
import { withTempDir } from '../../../helpers/temp-dir.js';

const since = '2026-11-29T12:00:00.000Z';
const read = (state: ReadStatus['status']['connection']['state'], running = true): ReadStatus =>
  ({ running, status: { connection: { state, since } } }) as ReadStatus;
const at = (seconds: number) => new Date(Date.parse(since) + seconds * 1000);

test('health: revoked, unable to connect after the grace or when refused, ok otherwise and when no agent runs', () => {
  assert.is(agentHealth(read('online'), at(600)), 'ok');
  assert.is(agentHealth(read('connecting'), at(30)), 'ok', 'still within the grace');
  assert.is(agentHealth(read('connecting'), at(61)), 'unable_to_connect');
  assert.is(agentHealth(read('revoked'), at(1)), 'revoked');
  assert.is(agentHealth(read('untrusted'), at(1)), 'unable_to_connect');
  assert.is(agentHealth(read('revoked', false), at(1)), 'ok', 'a dead agent says nothing now');
  assert.is(agentHealth(undefined, at(1)), 'ok');
});

test('written atomically 0644, read back as running; the same state or error code again writes nothing', async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, 'status.json');
    const { log } = memoryLog();
    const file = new StatusFile(
      path,
      {
        agentVersion: '1',
        deviceId: 'rpi4-1',
        connection: { state: 'connecting', since },
        lastError: null,
        nextRenewalCheck: null,
        token: { location: 'none', paths: [] },
      },
      log,
    );
    file.connection('online', 'broker:8883', at(1));
    file.error('chain_invalid', 'x', at(2));
    await file.settled();
    const written = await stat(path);
    assert.is(written.mode & 0o777, 0o644);
    file.error('chain_invalid', 'again', at(3));
    file.connection('online', 'broker:8883', at(4));
    await file.settled();
    assert.is((await stat(path)).mtimeMs, written.mtimeMs, 'no write for a repeat');
    const back = await readAgentStatus(path);
    assert.is(back?.running, true, 'this process wrote it');
    assert.equal([back?.status.connection.state, back?.status.lastError?.code], ['online', 'chain_invalid']);
    assert.not.match(await readFile(path, 'utf8'), /PRIVATE KEY|fct_/);
  });
});

test.run();
