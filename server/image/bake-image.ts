/**
 * `fleetcert image bake`: writes the agent, its Node (if the image has none), its system account,
 * state directory, enabled unit and the fleet's bootstrap file into a Raspberry Pi OS or Armbian
 * image file, with userspace tools only (sfdisk, mtools, debugfs). Nothing per device is written:
 * every board flashed from the result takes its identity from its own hardware serial.
 * Every check (inspect-image.ts; Node, free space) runs on the input, read-only, before anything
 * is written; the writes go to a copy that replaces the output only once complete.
 */
import { chmod, mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FleetcertError } from '../../shared/errors.js';
import { bootstrapFileSchema } from '../../shared/protocol/bootstrap-file.js';
import { unpackAgentPackage, type AgentPackage } from './agent-package.js';
import type { ImageArch } from './detect-arch.js';
import { formatSize, type ImageLayout } from './detect-layout.js';
import { Ext4Partition, type Ownership } from './ext4-partition.js';
import { FatPartition } from './fat-partition.js';
import { chooseNodeRuntime, type NodeOptions, type NodeRuntime } from './node-runtime.js';
import { inspectImage } from './inspect-image.js';
import { runImageTool } from './run-image-tool.js';
import { appendLines, planSystemAccount, sysusersLine, type SystemAccount } from './system-user.js';

export const AGENT_USER = 'fleetcert-agent';
export const AGENT_UNIT = '/usr/lib/systemd/system/fleetcert-agent.service';
export const ENABLE_LINK = '/etc/systemd/system/multi-user.target.wants/fleetcert-agent.service';
export const STATE_DIR = '/var/lib/fleetcert-agent';
export const EMBEDDED_NODE_DIR = '/usr/lib/fleetcert-agent/node';
export const SYSUSERS_FILE = '/usr/lib/sysusers.d/fleetcert-agent.conf';
/** Room kept free beyond what the files need: directories, the journal's first writes. */
const SPARE_BYTES = 4 << 20;

export interface BakeOptions {
  readonly image: string;
  /** The baked image(s): one path, or with `count` > 1 the stem of `<stem>-<n>.img`. */
  readonly out: string;
  readonly inPlace: boolean;
  readonly count: number;
  readonly bootstrap: string;
  readonly agentPackage: string;
  readonly node: NodeOptions;
  readonly progress: (step: string) => void;
}

export interface WrittenFile {
  readonly path: string;
  readonly partition: 'root' | 'boot';
  readonly bytes: number;
  readonly mode?: string;
  readonly owner?: string;
}

export interface BakeReport {
  readonly outputs: readonly string[];
  readonly layout: ImageLayout['kind'];
  readonly os: string;
  readonly arch: ImageArch;
  readonly agentVersion: string;
  readonly node: { source: NodeRuntime['source']; version: string; from?: string };
  readonly account: SystemAccount;
  readonly bootstrapPath: string;
  readonly written: readonly WrittenFile[];
}

interface PlannedFile {
  readonly path: string;
  readonly local: string;
  readonly size: number;
  readonly own: Ownership;
}

export async function bakeImage(options: BakeOptions): Promise<BakeReport> {
  const say = options.progress;
  const bootstrapText = await readFile(options.bootstrap, 'utf8').catch((err: unknown) => {
    throw new FleetcertError(
      'bootstrap_missing',
      `cannot read ${options.bootstrap}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
      {
        cause: err,
        hint: 'make one with "fleetcert token create --out fleetcert.json"',
      },
    );
  });
  const bootstrap = bootstrapFileSchema.safeParse(safeJson(bootstrapText));
  if (!bootstrap.success) {
    throw new FleetcertError('bootstrap_invalid', `${options.bootstrap} is not a fleetcert bootstrap file`, {
      hint: 'make one with "fleetcert token create --out fleetcert.json"',
    });
  }
  const work = await mkdtemp(join(tmpdir(), 'fleetcert-bake-'));
  try {
    say(`reading ${options.image}`);
    const { layout, os, arch, bootstrapPath, root: input } = await inspectImage(options.image);
    say(`${layout.kind} layout, ${os}, ${arch}; the bootstrap file goes to ${bootstrapPath}`);

    const node = await chooseNodeRuntime(input, arch, options.node, work);
    say(node.source === 'image' ? `using the image's own Node ${node.version}` : `embedding Node ${node.version} from ${node.from}`);
    const agent = await unpackAgentPackage(options.agentPackage, work);
    if (!agent.entries.some((e) => e.path === AGENT_UNIT))
      throw new FleetcertError('image_invalid', `${options.agentPackage} has no ${AGENT_UNIT}`);

    const accountFiles = {
      passwd: (await input.readFile('/etc/passwd'))?.toString('utf8'),
      group: (await input.readFile('/etc/group'))?.toString('utf8'),
      shadow: (await input.readFile('/etc/shadow'))?.toString('utf8'),
      gshadow: (await input.readFile('/etc/gshadow'))?.toString('utf8'),
    };
    if (accountFiles.passwd === undefined || accountFiles.group === undefined)
      throw new FleetcertError('image_layout_unknown', 'the root partition has no /etc/passwd or /etc/group');
    const current = { passwd: accountFiles.passwd, group: accountFiles.group, shadow: accountFiles.shadow, gshadow: accountFiles.gshadow };
    const edits = planSystemAccount(current, {
      name: AGENT_USER,
      gecos: 'fleetcert device agent',
      home: STATE_DIR,
      shell: '/usr/sbin/nologin',
    });
    const { account } = edits;

    const files = await planRootFiles(work, agent, node, account, current, edits, input);
    const bootOnRoot = layout.boot === undefined;
    const bootstrapLocal = join(work, 'fleetcert.json');
    await writeFile(bootstrapLocal, bootstrapText, { mode: 0o600 });
    if (bootOnRoot)
      files.push({
        path: bootstrapPath,
        local: bootstrapLocal,
        size: bootstrapText.length,
        own: { mode: 0o640, uid: 0, gid: account.gid },
      });
    await checkSpace(layout, files, bootOnRoot ? 0 : bootstrapText.length, options.image);

    const target = options.inPlace ? options.image : `${options.out}.partial`;
    if (!options.inPlace) {
      say(`copying ${options.image} to ${target}`);
      await runImageTool('cp', ['--sparse=always', '--reflink=auto', '--', options.image, target]);
    }
    // The image now carries the fleet token: readable by its owner only, like the bootstrap file.
    await chmod(target, 0o600);
    try {
      const root = new Ext4Partition(target, layout.root.offsetBytes);
      const written: WrittenFile[] = [];
      for (const f of files) {
        say(`writing ${f.path}`);
        await root.writeFile(f.path, f.local, f.own);
        written.push({
          path: f.path,
          partition: 'root',
          bytes: f.size,
          mode: f.own.mode.toString(8).padStart(4, '0'),
          owner: `${f.own.uid}:${f.own.gid}`,
        });
      }
      const stateOwn = { mode: 0o700, uid: account.uid, gid: account.gid };
      await root.mkdirp(STATE_DIR, stateOwn);
      written.push({ path: STATE_DIR, partition: 'root', bytes: 0, mode: '0700', owner: `${account.uid}:${account.gid}` });
      for (const link of agent.entries.filter((e) => e.kind === 'symlink')) {
        await root.symlink(link.path, link.target!);
        written.push({ path: link.path, partition: 'root', bytes: 0, mode: 'symlink', owner: `-> ${link.target}` });
      }
      await root.symlink(ENABLE_LINK, AGENT_UNIT);
      written.push({ path: ENABLE_LINK, partition: 'root', bytes: 0, mode: 'symlink', owner: `-> ${AGENT_UNIT}` });
      if (layout.boot) {
        say(`writing ${bootstrapPath} (FAT partition ${layout.boot.number})`);
        await new FatPartition(target, layout.boot.offsetBytes).writeFile('fleetcert.json', bootstrapLocal);
        written.push({ path: bootstrapPath, partition: 'boot', bytes: bootstrapText.length });
      }
      const outputs = await finishOutputs(options, target, say);
      return {
        outputs,
        layout: layout.kind,
        os,
        arch,
        agentVersion: agent.version,
        node:
          node.source === 'image'
            ? { source: 'image', version: node.version }
            : { source: 'embedded', version: node.version, from: node.from },
        account,
        bootstrapPath,
        written,
      };
    } catch (err) {
      if (!options.inPlace) await rm(target, { force: true });
      throw err;
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** The root partition's files: account databases, agent package, embedded Node. */
async function planRootFiles(
  work: string,
  agent: AgentPackage,
  node: NodeRuntime,
  account: SystemAccount,
  current: { passwd: string; group: string; shadow: string | undefined; gshadow: string | undefined },
  edits: ReturnType<typeof planSystemAccount>,
  input: Ext4Partition,
): Promise<PlannedFile[]> {
  const files: PlannedFile[] = [];
  const local = async (name: string, text: string) => {
    const path = join(work, name);
    await writeFile(path, text);
    return path;
  };
  // Account databases keep their own mode and owner (shadow is root:shadow 0640 on Debian).
  for (const [name, text, extra] of [
    ['passwd', current.passwd, edits.passwd],
    ['group', current.group, edits.group],
    ['shadow', current.shadow, edits.shadow],
    ['gshadow', current.gshadow, edits.gshadow],
  ] as const) {
    if (text === undefined || extra === '') continue;
    const path = `/etc/${name}`;
    const info = await input.stat(path);
    const content = appendLines(text, extra);
    files.push({
      path,
      local: await local(name, content),
      size: content.length,
      own: { mode: info?.mode ?? 0o644, uid: info?.uid ?? 0, gid: info?.gid ?? 0 },
    });
  }
  const sysusers = `# The fleetcert agent's account, written by "fleetcert image bake" (also in /etc/passwd).\n${sysusersLine(account)}`;
  files.push({
    path: SYSUSERS_FILE,
    local: await local('sysusers.conf', sysusers),
    size: sysusers.length,
    own: { mode: 0o644, uid: 0, gid: 0 },
  });
  for (const e of agent.entries) {
    if (e.kind !== 'file') continue;
    files.push({ path: e.path, local: e.local, size: e.size, own: { mode: e.mode, uid: 0, gid: 0 } });
  }
  if (node.source === 'embedded') {
    files.push({
      path: `${EMBEDDED_NODE_DIR}/bin/node`,
      local: node.node,
      size: (await stat(node.node)).size,
      own: { mode: 0o755, uid: 0, gid: 0 },
    });
    if (node.license)
      files.push({
        path: `${EMBEDDED_NODE_DIR}/LICENSE`,
        local: node.license,
        size: (await stat(node.license)).size,
        own: { mode: 0o644, uid: 0, gid: 0 },
      });
  }
  return files;
}

async function checkSpace(layout: ImageLayout, files: readonly PlannedFile[], bootBytes: number, image: string): Promise<void> {
  const root = layout.root.filesystem;
  if (root.type !== 'ext4') return;
  const need = files.reduce((sum, f) => sum + Math.ceil(f.size / root.blockSize) * root.blockSize, 0) + SPARE_BYTES;
  if (need > root.freeBytes || files.length + 16 > root.freeInodes) {
    throw new FleetcertError(
      'image_too_full',
      `${image}: the root partition has ${formatSize(root.freeBytes)} and ${root.freeInodes} inodes free; ` +
        `the agent needs ${formatSize(need)} and ${files.length + 16}; the image was not changed`,
      {
        hint:
          'grow the root partition and its filesystem first (truncate -s +512M, then growpart or parted, then resize2fs), ' +
          'or choose --node image',
      },
    );
  }
  if (layout.boot && bootBytes > 0) {
    const free = await new FatPartition(image, layout.boot.offsetBytes).freeBytes();
    if (free < bootBytes + 4096)
      throw new FleetcertError('image_too_full', `${image}: the FAT boot partition has ${free} bytes free; the image was not changed`);
  }
}

async function finishOutputs(options: BakeOptions, target: string, say: (s: string) => void): Promise<string[]> {
  if (options.inPlace) return [options.image];
  if (options.count <= 1) {
    await rename(target, options.out);
    return [options.out];
  }
  const stem = options.out.replace(/\.img$/, '');
  const outputs = Array.from({ length: options.count }, (_, i) => `${stem}-${i + 1}.img`);
  for (const out of outputs.slice(1)) {
    say(`stamping ${out}`);
    await runImageTool('cp', ['--sparse=always', '--reflink=auto', '--', target, `${out}.partial`]);
    await rename(`${out}.partial`, out);
  }
  await rename(target, outputs[0]!);
  return outputs;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
