/**
 * Small board-shaped disk images for `fleetcert image bake`, built without mounts from a Debian
 * 12 userland (scripts/arm-sysroot.mjs: Debian's nodejs and its libraries for arm64 or armhf):
 *   pi-os    MBR, FAT32 "bootfs" (hidden sectors set, as Raspberry Pi OS has them) + ext4 "rootfs",
 *            fstab mounting the FAT at /boot/firmware
 *   armbian  MBR, one ext4 "armbi_root" with /boot inside
 * plus what a real image has and the bake reads: os-release, fstab, account files with the usual
 * system users, dpkg's record of nodejs, systemd's unit directories. Files are sparse.
 */
import { execFile } from 'node:child_process';
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { repoPath } from './repo.js';
import { run } from './run.js';

export type ImageShape = 'pi-os' | 'armbian';

export interface BoardImage {
  readonly path: string;
  readonly rootOffset: number;
  /** The FAT partition's offset (pi-os). */
  readonly bootOffset: number | undefined;
}

const MiB = 1 << 20;
const START = 4 * MiB;
const FAT_SIZE = 64 * MiB;

async function sh(cmd: string, args: readonly string[], input?: string): Promise<string> {
  const res = await run(cmd, args, { input, timeoutMs: 120_000 });
  if (res.code !== 0) throw new Error(`${cmd} ${args.join(' ')} (${res.code}): ${res.stderr}`);
  return res.stdout;
}

/**
 * The cached Debian userland for an architecture (downloaded once: scripts/arm-sysroot.mjs):
 * nodejs and its libraries, or the packages named.
 */
export function sysrootOf(arch: 'arm64' | 'armhf', packages: readonly string[] = []): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [repoPath('scripts', 'arm-sysroot.mjs'), arch, ...packages], { timeout: 600_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`no ${arch} sysroot: ${stderr || err.message}`)) : resolve(stdout.trim()),
    );
  });
}

const PASSWD = [
  'root:x:0:0:root:/root:/bin/bash',
  'daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin',
  '_apt:x:42:65534::/nonexistent:/usr/sbin/nologin',
  'messagebus:x:100:107::/nonexistent:/usr/sbin/nologin',
  'systemd-network:x:998:998:systemd Network Management:/:/usr/sbin/nologin',
  'systemd-timesync:x:997:997:systemd Time Synchronization:/:/usr/sbin/nologin',
  'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin',
];
const GROUP = [
  'root:x:0:',
  'daemon:x:1:',
  'shadow:x:42:',
  'messagebus:x:107:',
  'systemd-journal:x:999:',
  'systemd-network:x:998:',
  'systemd-timesync:x:997:',
  'nogroup:x:65534:',
];

/**
 * The root filesystem's tree: the userland (hard links into the cache, pruned of what Node never
 * reads) plus the files a Raspberry Pi OS or Armbian root has.
 */
export async function stageRoot(
  dir: string,
  shape: ImageShape,
  userland: string | undefined,
  extras: readonly string[] = [],
): Promise<string> {
  const root = join(dir, `stage-${shape}`);
  await rm(root, { recursive: true, force: true });
  if (userland) {
    await sh('cp', ['-al', userland, root]);
    // More packages' trees on top (the same libc6 in both: -f replaces the link).
    for (const extra of extras) await sh('cp', ['-alf', `${extra}/.`, `${root}/`]);
    for (const junk of ['usr/share/doc', 'usr/share/man']) await rm(join(root, junk), { recursive: true, force: true });
    for (const triplet of ['aarch64-linux-gnu', 'arm-linux-gnueabihf'])
      await rm(join(root, 'usr/lib', triplet, 'gconv'), { recursive: true, force: true });
  }
  for (const d of [
    'etc/systemd/system/multi-user.target.wants',
    'usr/lib/systemd/system',
    'var/lib/dpkg',
    'boot',
    'proc',
    'sys',
    'dev',
    'tmp',
    'run',
    'usr/bin',
  ])
    await mkdir(join(root, d), { recursive: true });
  await chmod(join(root, 'tmp'), 0o1777);
  const pi = shape === 'pi-os';
  // Bookworm's os-release is a symlink into /usr/lib: the bake must follow it.
  await rm(join(root, 'etc/os-release'), { force: true });
  await writeFile(
    join(root, 'usr/lib/os-release'),
    pi
      ? 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nID=debian\n'
      : 'PRETTY_NAME="Armbian 25.5.1 bookworm"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nID=debian\n',
  );
  await sh('ln', ['-s', '../usr/lib/os-release', join(root, 'etc/os-release')]);
  await writeFile(
    join(root, 'etc/fstab'),
    pi
      ? 'proc /proc proc defaults 0 0\nPARTUUID=5e3da3da-01 /boot/firmware vfat defaults 0 2\n' +
          'PARTUUID=5e3da3da-02 / ext4 defaults,noatime 0 1\n'
      : 'UUID=0b5e2a9c-2a1c-4a8e-9f8f-0d1c3b6e7a11 / ext4 defaults,noatime,commit=600,errors=remount-ro 0 1\n' +
          'tmpfs /tmp tmpfs defaults,nosuid 0 0\n',
  );
  await writeFile(join(root, 'etc/passwd'), PASSWD.join('\n') + '\n');
  await writeFile(join(root, 'etc/group'), GROUP.join('\n') + '\n');
  await writeFile(join(root, 'etc/shadow'), PASSWD.map((l) => `${l.split(':')[0]}:*:19800:0:99999:7:::`).join('\n') + '\n');
  await chmod(join(root, 'etc/shadow'), 0o640);
  await writeFile(join(root, 'etc/hostname'), pi ? 'raspberrypi\n' : 'orangepipc\n');
  // As the real images ship it: the agent resolves names (localhost here) through the system resolver.
  await writeFile(
    join(root, 'etc/hosts'),
    `127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t${pi ? 'raspberrypi' : 'orangepipc'}\n`,
  );
  await writeFile(
    join(root, 'var/lib/dpkg/status'),
    'Package: libc6\nStatus: install ok installed\nVersion: 2.36-9+deb12u10\n\n' +
      'Package: nodejs\nStatus: install ok installed\nVersion: 18.19.0+dfsg-6~deb12u2\n\n',
  );
  return root;
}

/** Builds the image from a staged root; the root partition is `rootMiB` big. */
export async function buildImage(dir: string, shape: ImageShape, root: string, rootMiB: number): Promise<BoardImage> {
  const path = join(dir, `${shape}.img`);
  await rm(path, { force: true });
  const pi = shape === 'pi-os';
  const rootOffset = pi ? START + FAT_SIZE : START;
  await sh('truncate', ['-s', String(rootOffset + rootMiB * MiB), path]);
  const sectors = (bytes: number) => bytes / 512;
  const table = pi
    ? `label: dos\nlabel-id: 0x5e3da3da\nstart=${sectors(START)}, size=${sectors(FAT_SIZE)}, type=c\n` +
      `start=${sectors(rootOffset)}, type=83\n`
    : `label: dos\nstart=${sectors(START)}, type=83\n`;
  await sh('sfdisk', ['--quiet', path], table);
  if (pi) {
    // -h: hidden sectors = the partition's start, as on a real card (the boot ROM and fsck read it).
    // -s 1: mkfs.vfat sizes clusters by the whole file, not the partition, and 64 MiB of 4 KiB clusters
    // is too few clusters for FAT32 (mtools then reads it as FAT16: "Error reading FAT").
    await sh('mkfs.vfat', [
      '-F',
      '32',
      '-s',
      '1',
      '-n',
      'bootfs',
      '-h',
      String(sectors(START)),
      '--offset',
      String(sectors(START)),
      path,
      String(FAT_SIZE / 1024),
    ]);
    const config = join(dir, 'config.txt');
    await writeFile(config, '[all]\narm_64bit=1\nenable_uart=1\n');
    await sh('mcopy', ['-i', `${path}@@${START}`, config, '::/config.txt']);
  }
  await sh('mkfs.ext4', [
    '-q',
    '-F',
    '-L',
    pi ? 'rootfs' : 'armbi_root',
    '-d',
    root,
    '-E',
    `offset=${rootOffset}`,
    path,
    `${rootMiB * 1024}k`,
  ]);
  return { path, rootOffset, bootOffset: pi ? START : undefined };
}

/** A copy of one partition as its own file (fsck.fat has no offset option). */
export async function extractPartition(image: string, offset: number, size: number, out: string): Promise<string> {
  await sh('dd', [`if=${image}`, `of=${out}`, 'bs=1M', `skip=${offset / MiB}`, `count=${size / MiB}`, 'conv=sparse', 'status=none']);
  return out;
}

export const FAT_PARTITION_BYTES = FAT_SIZE;
