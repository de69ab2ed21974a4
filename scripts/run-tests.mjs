#!/usr/bin/env node
// The README's test command: set up, compile, run every uvu suite under dist/test against
// real openssl (and later a real Mosquitto), then print one closing line "N passed, N failed".
// Usage: npm test [-- <pattern>]   e.g. npm test -- pki   runs files whose path matches "pki".
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { ROOT, ensureSetup } from './lib/setup.mjs';

ensureSetup({
  commands: ['openssl', 'curl', 'mosquitto', 'mosquitto_pub', 'mosquitto_sub', 'qemu-aarch64-static', 'qemu-arm-static', 'dpkg-deb', 'gcc'],
});

const filter = process.argv[2] ?? '';
const pattern = `${filter.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}.*\\.test\\.js$`;
const child = spawn(process.execPath, [join(ROOT, 'node_modules', 'uvu', 'bin.js'), 'dist/test', pattern], {
  cwd: ROOT,
  stdio: ['ignore', 'pipe', 'inherit'],
  env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' },
});
let out = '';
child.stdout.on('data', (chunk) => {
  out += chunk;
  process.stdout.write(chunk);
});
child.on('close', (code) => {
  const count = (label) => Number(out.match(new RegExp(`${label}:\\s+(\\d+)`))?.[1] ?? 0);
  const total = count('Total');
  const passed = count('Passed');
  const skipped = count('Skipped');
  // A crash before the summary still counts as a failure.
  const failed = code === 0 ? total - passed - skipped : Math.max(total - passed - skipped, 1);
  process.stdout.write(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`);
  // uvu can end 0 while tests did not pass (an exception in a before hook): judge by the counts too.
  if (code !== 0 || total === 0 || failed > 0) process.exit(code || 1);
});
