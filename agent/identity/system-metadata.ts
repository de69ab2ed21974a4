/**
 * OS facts for the registry, from systeminformation (distribution, release, architecture,
 * hostname). Fail-soft and bounded: a slow or failing probe only means less metadata.
 */
import si from 'systeminformation';

export interface SystemFacts {
  readonly os?: string;
  readonly arch?: string;
  readonly hostname?: string;
}

export async function systemFacts(timeoutMs = 3_000): Promise<SystemFacts> {
  const probe = si.osInfo().then((o) => ({
    os: `${o.distro} ${o.release}`.trim().slice(0, 128),
    arch: o.arch.slice(0, 16),
    hostname: o.hostname.slice(0, 64),
  }));
  const timeout = new Promise<SystemFacts>((resolve) => setTimeout(() => resolve({}), timeoutMs).unref());
  return Promise.race([probe.catch(() => ({})), timeout]);
}
