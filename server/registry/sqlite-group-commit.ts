/**
 * Group commit for the SQLite registry: durable and fast together. Every write of this process is
 * queued; once per turn of the event loop (setImmediate, after the I/O of that turn has queued its
 * writes) the queue runs as ONE `BEGIN IMMEDIATE ... COMMIT`, so many issuances share one fsync
 * (`synchronous = FULL`: the COMMIT is the durability point) instead of each blocking the event
 * loop on its own. Each operation keeps its own preconditions and result: it runs in its own
 * savepoint (better-sqlite3 nests a transaction inside an open one as SAVEPOINT), so one that fails
 * (a compare-and-swap that no longer holds, an exhausted token) is rolled back alone and the others
 * commit. Each caller's promise settles only after the COMMIT of its batch: a certificate is never
 * answered before it is on disk.
 */
import type Database from 'better-sqlite3';

interface Queued {
  readonly work: () => unknown;
  readonly resolve: (value: unknown) => void;
  readonly reject: (reason: unknown) => void;
}

/** Operations per transaction: bounds how long one COMMIT holds SQLite's write lock. */
export const MAX_GROUP_OPERATIONS = 256;

export class SqliteGroupCommit {
  private queue: Queued[] = [];
  private scheduled = false;
  private drained: Promise<void> = Promise.resolve();
  private settleDrained: (() => void) | undefined;

  /**
   * `whenIdle` runs its callback synchronously at a moment when no other transaction of this
   * process is open (the registry's gate), so a batch never lands inside `transaction(fn)`.
   */
  constructor(
    private readonly db: Database.Database,
    private readonly whenIdle: (run: () => void) => Promise<void>,
    private readonly maxOperations = MAX_GROUP_OPERATIONS,
  ) {}

  /** Queues one synchronous write; resolves with its result once its batch has committed. */
  run<T>(work: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ work, resolve: resolve as (value: unknown) => void, reject });
      this.schedule();
    });
  }

  /** Resolves once everything queued so far has committed or failed (before close). */
  async drain(): Promise<void> {
    while (this.queue.length > 0 || this.scheduled) await this.drained;
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    this.drained = new Promise((resolve) => (this.settleDrained = resolve));
    setImmediate(() => {
      void this.whenIdle(() => this.flush()).catch((err: unknown) => {
        this.scheduled = false;
        this.failAll(this.queue.splice(0), err);
        this.settleDrained?.();
      });
    });
  }

  private flush(): void {
    const batch = this.queue.splice(0, this.maxOperations);
    this.scheduled = false;
    const settle = this.settleDrained;
    if (this.queue.length > 0) this.schedule();
    try {
      const outcomes = this.commit(batch);
      batch.forEach((op, i) => {
        const outcome = outcomes[i]!;
        if (outcome.ok) op.resolve(outcome.value);
        else op.reject(outcome.error);
      });
    } catch (err) {
      this.failAll(batch, err);
    } finally {
      settle?.(); // waiters of drain() look again: a next batch may already be scheduled
    }
  }

  /** One transaction: each operation in its own savepoint, one COMMIT for all. Throws when the batch as a whole fails. */
  private commit(batch: readonly Queued[]): ({ ok: true; value: unknown } | { ok: false; error: unknown })[] {
    const { db } = this;
    db.exec('BEGIN IMMEDIATE');
    try {
      const outcomes = batch.map((op) => {
        try {
          return { ok: true as const, value: db.transaction(op.work)() };
        } catch (error) {
          return { ok: false as const, error };
        }
      });
      db.exec('COMMIT');
      return outcomes;
    } catch (err) {
      if (db.inTransaction) db.exec('ROLLBACK');
      throw err;
    }
  }

  private failAll(batch: readonly Queued[], err: unknown): void {
    for (const op of batch) op.reject(err);
  }
}
