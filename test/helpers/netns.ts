/**
 * A small LAN in network namespaces for tests that need real segments (issue 14): one "switch"
 * namespace holding a bridge per segment, and a namespace per host with a veth interface
 * (`eth0`, `eth1`, ...) plugged into the bridge of each of its segments. Multicast (mDNS)
 * flows as on a real LAN and nothing reaches the machine's own network. Needs root (CI runs
 * as root). Every name carries a random prefix, so parallel runs never meet; destroy() removes
 * the namespaces (and with them every interface), after the test stopped its processes.
 */
import { randomBytes } from 'node:crypto';
import { run, type RunResult } from './run.js';

export interface HostLink {
  /** The segment (bridge) the interface is plugged into. */
  readonly segment: string;
  /** `10.0.0.1/24`, or none (an interface that is up before DHCP gave it anything). */
  readonly address?: string;
}

export interface NetLab {
  /** Adds a host; returns its namespace name. Interfaces are eth0, eth1, ... in the order of `links`. */
  host(name: string, links: readonly HostLink[]): Promise<string>;
  /** `ip <args>` inside a host's namespace; throws with ip's own words when it fails. */
  ip(ns: string, args: readonly string[]): Promise<void>;
  /** The command-line prefix that runs a program inside `ns`. */
  prefix(ns: string): string[];
  exec(ns: string, command: readonly string[], timeoutMs?: number): Promise<RunResult>;
  destroy(): Promise<void>;
}

async function must(args: readonly string[]): Promise<void> {
  const res = await run('ip', args);
  if (res.code !== 0) throw new Error(`ip ${args.join(' ')} exited ${res.code}: ${res.stderr}`);
}

export async function createNetLab(segments: readonly string[]): Promise<NetLab> {
  if (process.getuid?.() !== 0) throw new Error('network namespace tests need root (as in CI)');
  const id = `fc${randomBytes(3).toString('hex')}`;
  const sw = `${id}-sw`;
  const namespaces = [sw];
  await must(['netns', 'add', sw]);
  for (const segment of segments) {
    await must(['-n', sw, 'link', 'add', `br-${segment}`, 'type', 'bridge']);
    await must(['-n', sw, 'link', 'set', `br-${segment}`, 'up']);
  }
  let port = 0;
  const lab: NetLab = {
    async host(name, links) {
      const ns = `${id}-${name}`;
      await must(['netns', 'add', ns]);
      namespaces.push(ns);
      await must(['-n', ns, 'link', 'set', 'lo', 'up']);
      for (const [index, link] of links.entries()) {
        const dev = `eth${index}`;
        const swPort = `p${(port += 1)}`;
        await must(['-n', sw, 'link', 'add', swPort, 'type', 'veth', 'peer', 'name', dev, 'netns', ns]);
        await must(['-n', sw, 'link', 'set', swPort, 'master', `br-${link.segment}`, 'up']);
        await must(['-n', ns, 'link', 'set', dev, 'up']);
        if (link.address) await must(['-n', ns, 'addr', 'add', link.address, 'dev', dev]);
      }
      // No default route on these segments: multicast needs its own (the first interface, like a LAN's default).
      if (links.length > 0) await must(['-n', ns, 'route', 'add', '224.0.0.0/4', 'dev', 'eth0']);
      return ns;
    },
    ip: (ns, args) => must(['-n', ns, ...args]),
    prefix: (ns) => ['ip', 'netns', 'exec', ns],
    exec: (ns, command, timeoutMs) => run('ip', ['netns', 'exec', ns, ...command], timeoutMs === undefined ? {} : { timeoutMs }),
    async destroy() {
      for (const ns of namespaces.reverse()) await run('ip', ['netns', 'del', ns]);
    },
  };
  return lab;
}

/** Runs `fn` with a fresh lab, destroyed afterwards whatever happened. */
export async function withNetLab<T>(segments: readonly string[], fn: (lab: NetLab) => Promise<T>): Promise<T> {
  const lab = await createNetLab(segments);
  try {
    return await fn(lab);
  } finally {
    await lab.destroy();
  }
}
