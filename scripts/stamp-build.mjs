#!/usr/bin/env node
// Stamps the build time into the compiled agent (dist/agent/clock/build-time.js), the floor below
// which the agent treats the device clock as unset. Runs after tsc in `npm run build` and in
// scripts/lib/setup.mjs; the source keeps its committed release date, so nothing in git changes.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const FILE = join(ROOT, 'dist', 'agent', 'clock', 'build-time.js');

export function stampBuildTime(file = FILE, now = new Date()) {
  const text = readFileSync(file, 'utf8');
  const pattern = /export const BUILD_TIME = (['"])[^'"]*\1;/g;
  const matches = text.match(pattern) ?? [];
  if (matches.length !== 1) throw new Error(`${file}: expected one BUILD_TIME constant, found ${matches.length}`);
  const stamped = text.replace(pattern, `export const BUILD_TIME = '${now.toISOString()}';`);
  // Write new, rename: a test run reading the file meanwhile sees the old one or the new one.
  writeFileSync(`${file}.tmp`, stamped);
  renameSync(`${file}.tmp`, file);
  return now;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) stampBuildTime();
