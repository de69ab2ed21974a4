import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '#shared/fs/write-file-atomic.js';
import { withTempDir } from '../../../helpers/temp-dir.js';

test('writes with the given mode, whatever the umask, and leaves no temp file', async () => {
  await withTempDir(async (dir) => {
    const old = process.umask(0o000);
    try {
      await writeFileAtomic(join(dir, 'key.pem'), 'secret', { mode: 0o600 });
    } finally {
      process.umask(old);
    }
    assert.is((await stat(join(dir, 'key.pem'))).mode & 0o777, 0o600);
    assert.equal(await readdir(dir), ['key.pem']);
  });
});

test('replaces an existing file atomically (the old content is never torn)', async () => {
  await withTempDir(async (dir) => {
    const file = join(dir, 'cert.pem');
    await writeFile(file, 'old');
    await writeFileAtomic(file, 'new');
    assert.is(await readFile(file, 'utf8'), 'new');
    assert.equal(await readdir(dir), ['cert.pem']);
  });
});

test('exclusive: refuses to replace, keeps the original, cleans up', async () => {
  await withTempDir(async (dir) => {
    const file = join(dir, 'root.key');
    await writeFile(file, 'original');
    let code: string | undefined;
    try {
      await writeFileAtomic(file, 'other', { exclusive: true });
    } catch (err) {
      code = (err as NodeJS.ErrnoException).code;
    }
    assert.is(code, 'EEXIST');
    assert.is(await readFile(file, 'utf8'), 'original');
    assert.equal(await readdir(dir), ['root.key']);
  });
});

test('a missing directory is an error, not a silent success', async () => {
  await withTempDir(async (dir) => {
    let failed = false;
    await writeFileAtomic(join(dir, 'nope', 'x'), 'y').catch(() => (failed = true));
    assert.ok(failed);
  });
});

test.run();
