#!/usr/bin/env node
// The README's test command: set up, compile, lint and format-check (full runs only), run every
// uvu suite under dist/test against real openssl and a real Mosquitto, then print one closing
// line "N passed, N failed" in which the lint and format checks count as one test each.
// Usage: npm test [-- <pattern>]   e.g. npm test -- pki   runs files whose path matches "pki".
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ROOT, ensureSetup } from './lib/setup.mjs';

ensureSetup({
  commands: [
    'openssl',
    'curl',
    'mosquitto',
    'mosquitto_pub',
    'mosquitto_sub',
    'qemu-aarch64-static',
    'qemu-arm-static',
    'dpkg-deb',
    'gcc',
    'dpkg-shlibdeps',
    'lintian',
    'systemd-analyze',
    'adduser',
    'sfdisk',
    'mcopy',
    'mkfs.vfat',
    'debugfs',
    'pg_ctlcluster',
    'haproxy',
  ],
});

const filter = process.argv[2] ?? '';

/** The static checks: the same commands as `npm run lint` and `npm run format:check`. */
function staticChecks() {
  /** @type {[string, string, string[]][]} */
  const checks = [
    ['lint (oxlint, type-aware)', join(ROOT, 'node_modules', 'oxlint', 'bin', 'oxlint'), ['--type-aware', '--deny-warnings', '.']],
    ['format (prettier --check)', join(ROOT, 'node_modules', 'prettier', 'bin', 'prettier.cjs'), ['--check', '--log-level', 'warn', '.']],
  ];
  let passed = 0;
  let failed = 0;
  for (const [name, bin, args] of checks) {
    const result = spawnSync(process.execPath, [bin, ...args], { cwd: ROOT, stdio: 'inherit' });
    if (result.status === 0) {
      passed += 1;
      process.stdout.write(`${name}: ok\n`);
    } else {
      failed += 1;
      process.stdout.write(`${name}: FAILED (run "npm run lint" / "npm run format" to see or fix)\n`);
    }
  }
  return { passed, failed };
}

const checks = filter === '' ? staticChecks() : { passed: 0, failed: 0 };

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
  const passed = count('Passed') + checks.passed;
  const skipped = count('Skipped');
  // A crash before the summary still counts as a failure.
  const failed = (code === 0 ? total - count('Passed') - skipped : Math.max(total - count('Passed') - skipped, 1)) + checks.failed;
  process.stdout.write(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`);
  // uvu can end 0 while tests did not pass (an exception in a before hook): judge by the counts too.
  if (code !== 0 || total === 0 || failed > 0) process.exit(code || 1);
});
