#!/usr/bin/env node
// Bundles the compiled agent (dist/agent/main.js, already stamped with its build time by
// stamp-build.mjs) and its npm dependencies into one ESM file for boards:
// dist/bundle/fleetcert-agent.mjs. Bundling the compiled output, not the TypeScript, means the
// bundle is exactly the code the tests ran plus the stamped clock floor.
// ESM because node-cron and @peculiar/x509 use `import.meta`; the banner gives the CommonJS
// dependencies (mqtt's stream stack, bonjour-service) the `require`, `__filename` and
// `__dirname` they expect (node-cron 3 computes its daemon's path at load; it forks that daemon
// only for tasks given as a file path, and the agent schedules a function, in-process).
// The metafile beside it lists every input, so a test can prove nothing of the server and no
// native module went in.
import { build } from 'esbuild';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const BUNDLE = join(ROOT, 'dist', 'bundle', 'fleetcert-agent.mjs');
export const METAFILE = join(ROOT, 'dist', 'bundle', 'fleetcert-agent.meta.json');
/** The board's budget for the one file (issue 12). */
export const MAX_BUNDLE_BYTES = 1_500_000;

const BANNER = [
  "import { createRequire as __fleetcertCreateRequire } from 'node:module';",
  "import { dirname as __fleetcertDirname } from 'node:path';",
  "import { fileURLToPath as __fleetcertFileURLToPath } from 'node:url';",
  'const require = __fleetcertCreateRequire(import.meta.url);',
  'const __filename = __fleetcertFileURLToPath(import.meta.url);',
  'const __dirname = __fleetcertDirname(__filename);',
].join('\n');

/**
 * zod re-exports every locale as `z.locales` and `z.core.locales` (290 KB of error messages in 40
 * languages); nothing in the agent reads it, and the English messages zod uses by default are
 * imported separately (classic/schemas.js imports locales/en.js), so the bundle gets an empty
 * namespace instead.
 */
const zodLocalesStub = {
  name: 'zod-locales-stub',
  setup(b) {
    b.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) =>
      /[\\/]zod[\\/]v4[\\/](classic|core)[\\/]/.test(args.importer) ? { path: 'zod-locales', namespace: 'fleetcert-stub' } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'fleetcert-stub' }, () => ({ contents: 'export {};\n', loader: 'js' }));
  },
};

/**
 * shared/version.js reads package.json two directories above itself; the bundle has no
 * package.json beside it, so it carries the version as a constant instead.
 */
function versionConstant(version) {
  return {
    name: 'fleetcert-version',
    setup(b) {
      b.onLoad({ filter: /[\\/]shared[\\/]version\.js$/ }, () => ({
        contents: `export const VERSION = ${JSON.stringify(version)};\n`,
        loader: 'js',
      }));
    },
  };
}

export async function bundleAgent({ entry = join(ROOT, 'dist', 'agent', 'main.js'), outfile = BUNDLE, metafile = METAFILE } = {}) {
  const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  mkdirSync(dirname(outfile), { recursive: true });
  const result = await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node18.19',
    // Full minification: 1.28 MB instead of 2.1 MB to parse at every start of a Pi Zero. The
    // agent's logs and errors carry stable codes, so mangled names cost little when reading a
    // board's journal. The licence comments of the bundled packages go to a file beside it.
    minify: true,
    legalComments: 'external',
    banner: { js: BANNER },
    metafile: true,
    logLevel: 'warning',
    plugins: [versionConstant(version), zodLocalesStub],
  });
  writeFileSync(metafile, JSON.stringify(result.metafile));
  const bytes = statSync(outfile).size;
  if (bytes > MAX_BUNDLE_BYTES) throw new Error(`${outfile} is ${bytes} bytes, over the ${MAX_BUNDLE_BYTES}-byte budget`);
  return { outfile, bytes };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { outfile, bytes } = await bundleAgent();
  process.stderr.write(`[bundle] ${outfile}: ${(bytes / 1024).toFixed(0)} KiB\n`);
}
