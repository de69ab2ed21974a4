/**
 * Serialises work per key (a device id) inside one process, so this server's own requests for
 * one device do not conflict with each other and waste a signature. A per-process optimisation
 * only: correctness does not depend on it. Other processes (the CLI, other servers) are ordered
 * by the registry's conditional writes (registry_conflict, then the service decides again).
 */
export class KeyedLock {
  private readonly tails = new Map<string, Promise<void>>();

  async run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    const tail = previous.then(() => mine);
    this.tails.set(key, tail);
    await previous;
    try {
      return await work();
    } finally {
      release();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}
