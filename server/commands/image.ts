/** `fleetcert image bake`: the agent and the fleet's bootstrap file into a board image (docs/FLASHING.md). */
import { Command, Option } from 'commander';
import type { CliIo } from '../../shared/cli/run-cli.js';
import { FleetcertError } from '../../shared/errors.js';
import { builtAgentPackage, nodeCacheDir } from '../config/image-paths.js';
import { bakeImage, type BakeReport } from '../image/bake-image.js';
import { NODE_STRATEGIES, type NodeStrategy } from '../image/node-runtime.js';
import { DEFAULT_NPM_REGISTRY } from '../image/npm-node-package.js';
import { jsonOption, positiveIntegerOption } from './options.js';

interface BakeFlags {
  bootstrap: string;
  out?: string;
  inPlace?: boolean;
  count: number;
  agent?: string;
  node: NodeStrategy;
  nodeFile?: string;
  nodeVersion?: string;
  registry: string;
  json?: boolean;
}

export function imageCommand(io: CliIo): Command {
  const image = new Command('image').summary('prepare board images (Raspberry Pi OS, Armbian) that enroll on first boot');
  image
    .command('bake')
    .summary('write the agent and the bootstrap file into an image file')
    .argument('<image>', 'raw image file (.img; decompress .img.xz first)')
    .requiredOption('--bootstrap <file>', 'the bootstrap file from "fleetcert token create --out"')
    .option('--out <file>', 'the baked image (default: <image>-fleetcert.img); with --count, the stem of <stem>-<n>.img')
    .option('--in-place', 'write into <image> itself instead of a copy')
    .addOption(
      new Option('--count <n>', 'stamp n identical images (each board still gets its own identity)')
        .argParser((v) => positiveIntegerOption('--count', v))
        .default(1),
    )
    .option('--agent <deb>', 'the fleetcert-agent .deb (default: the one "npm run package" built beside this server)')
    .addOption(
      new Option('--node <strategy>', "the agent's Node.js: the image's own if it has one, else embed (auto)")
        .choices(NODE_STRATEGIES)
        .default('auto'),
    )
    .option('--node-file <tarball>', 'with --node tarball: a nodejs.org node-vX-linux-<arch>.tar.xz')
    .option('--node-version <version>', 'with --node embed: an exact version or a major (default: newest LTS major)')
    .addOption(new Option('--registry <url>', 'npm registry for --node embed').env('npm_config_registry').default(DEFAULT_NPM_REGISTRY))
    .addOption(jsonOption())
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  fleetcert token create --uses 200 --expires 14d --out fleetcert.json\n' +
        '  xz -dk 2025-05-13-raspios-bookworm-arm64-lite.img.xz\n' +
        '  fleetcert image bake 2025-05-13-raspios-bookworm-arm64-lite.img --bootstrap fleetcert.json --out fleet.img\n' +
        '  fleetcert image bake Armbian_25.5_Orangepipc.img --bootstrap fleetcert.json \\\n' +
        '      --node tarball --node-file node-v22.12.0-linux-armv7l.tar.xz\n',
    )
    .action(async (path: string, flags: BakeFlags) => {
      if (flags.inPlace && (flags.out || flags.count > 1))
        throw new FleetcertError('usage', '--in-place writes one image: no --out, no --count');
      const agentPackage = flags.agent ?? (await builtAgentPackage());
      if (!agentPackage) {
        throw new FleetcertError('usage', 'no agent package: pass --agent fleetcert-agent_<version>_all.deb', {
          hint: 'build it with "npm run package" (dist/packages/)',
        });
      }
      const report = await bakeImage({
        image: path,
        out: flags.out ?? `${path.replace(/\.img$/, '')}-fleetcert.img`,
        inPlace: flags.inPlace === true,
        count: flags.count,
        bootstrap: flags.bootstrap,
        agentPackage,
        node: {
          strategy: flags.node,
          file: flags.nodeFile,
          version: flags.nodeVersion,
          registry: flags.registry,
          cacheDir: nodeCacheDir(process.env),
          now: new Date(),
        },
        progress: (step) => io.stderr(`[bake] ${step}\n`),
      });
      io.stdout(flags.json ? JSON.stringify({ ok: true, ...report }) + '\n' : describeReport(report));
    });
  return image;
}

function describeReport(r: BakeReport): string {
  const lines = [
    `Baked ${r.outputs.join(', ')}: ${r.layout}, ${r.os}, ${r.arch}.`,
    `  agent ${r.agentVersion}, Node ${r.node.version} (${r.node.source === 'image' ? "the image's own" : `embedded from ${r.node.from}`})`,
    `  user ${r.account.name} uid ${r.account.uid} gid ${r.account.gid}; bootstrap file at ${r.bootstrapPath}`,
    ...r.written.map((w) => `  ${w.partition === 'boot' ? 'boot' : 'root'} ${w.path} ${w.mode ?? ''} ${w.owner ?? ''}`.trimEnd()),
    'Flash it to any number of cards; each board enrolls with its own serial on first boot.',
  ];
  return lines.join('\n') + '\n';
}
