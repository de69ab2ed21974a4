/**
 * Writes the avahi service file (`broker-config --avahi-service`), as root at set-up like the
 * broker's other files: the hardened serve unit cannot write /etc/avahi/services, and avahi
 * watches that directory, so the announcement starts (and follows a rewrite) by itself.
 */
import { writeFileAtomic } from '../../shared/fs/write-file-atomic.js';
import { avahiOwnsHost, renderAvahiService, type AvahiServiceInput } from './avahi-service.js';

export interface WrittenAvahiService {
  readonly path: string;
  /** False when the broker's name is not avahi's own `<hostname>.local`: avahi then needs it in /etc/avahi/hosts. */
  readonly hostPublishedByAvahi: boolean;
}

export async function writeAvahiService(path: string, input: AvahiServiceInput): Promise<WrittenAvahiService> {
  await writeFileAtomic(path, renderAvahiService(input), { mode: 0o644 });
  return { path, hostPublishedByAvahi: avahiOwnsHost(input) };
}
