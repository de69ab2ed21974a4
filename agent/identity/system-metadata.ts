/**
 * OS facts for the registry, from systeminformation (distribution, release, architecture,
 * hostname). Fail-soft and bounded: a slow or failing probe only means less metadata.
 * Only the OS module is loaded: the package index requires every probe it has (CPU, GPU, Docker,
 * Wi-Fi...), 380 KB of the agent bundle that a board would parse at every start and never run.
 */
import { osInfo } from 'systeminformation/lib/osinfo.js';

export interface SystemFacts {
  readonly os?: string;
  readonly arch?: string;
  readonly hostname?: string;
}

export async function systemFacts(timeoutMs = 3_000): Promise<SystemFacts> {
  const probe = osInfo().then((o) => ({
    os: `${o.distro} ${o.release}`.trim().slice(0, 128),
    arch: o.arch.slice(0, 16),
    hostname: o.hostname.slice(0, 64),
  }));
  const timeout = new Promise<SystemFacts>((resolve) => setTimeout(() => resolve({}), timeoutMs).unref());
  return Promise.race([probe.catch(() => ({})), timeout]);
}
