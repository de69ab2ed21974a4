/**
 * Test-only preload (`node --import sync-child-tripwire.js`): every synchronous child process
 * the program starts (execSync, execFileSync, spawnSync) is reported as a JSON log line on
 * stderr with `event: 'sync_child_process'` and the command, then runs as usual. A synchronous
 * child blocks the event loop, so no timeout of the program can bound it: the start path must
 * have none (issue 14 item 7). Patched on the CommonJS module object, which CommonJS
 * dependencies read at require time, and synced into the ESM named exports.
 */
/* oxlint-disable typescript/no-unsafe-function-type -- wraps three functions of different signatures alike */
import childProcess from 'node:child_process';
import { writeSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';

const SYNC_FUNCTIONS = ['execSync', 'execFileSync', 'spawnSync'] as const;

for (const name of SYNC_FUNCTIONS) {
  const original = childProcess[name] as Function;
  const wrapped = function (this: unknown, ...args: unknown[]) {
    const command = [args[0], ...(Array.isArray(args[1]) ? (args[1] as unknown[]) : [])].join(' ');
    writeSync(2, JSON.stringify({ level: 'warn', ns: 'tripwire', event: 'sync_child_process', fn: name, command }) + '\n');
    return original.apply(this, args) as unknown;
  };
  (childProcess as unknown as Record<string, unknown>)[name] = wrapped;
}
syncBuiltinESMExports();
