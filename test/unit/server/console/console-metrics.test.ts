/**
 * /metrics has the series issue 17 lists, they pass `promtool check metrics`, and every series the
 * example alert rules use exists (rules that name a missing series never fire); the rules file
 * passes `promtool check rules`.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConsoleMetrics } from '#server/console/console-metrics.js';
import { openSqliteRegistry } from '#server/registry/sqlite-registry.js';
import { repoPath } from '../../../helpers/repo.js';
import { withTempDir } from '../../../helpers/temp-dir.js';
import { issue, token } from '../registry/registry-suite.js';

const RULES = repoPath('deploy/prometheus/fleetcert-alerts.yml');
const REQUIRED = [
  'fleetcert_enrollment_outcomes_total',
  'fleetcert_issuance_duration_seconds_bucket',
  'fleetcert_devices',
  'fleetcert_devices_online',
  'fleetcert_certificates_expiring',
  'fleetcert_token_uses_left',
  'fleetcert_load_refused_requests_total',
  'fleetcert_registry_rows',
];

test('metrics: the listed series, from the registry and this process, in a valid exposition', async () => {
  await withTempDir(async (dir) => {
    const registry = await openSqliteRegistry(join(dir, 'r.sqlite3'));
    try {
      await registry.createToken(token('t1', 10), null);
      await issue(registry, 'dev-1', '01', 't1');
      await registry.audit({ at: new Date('2026-06-01T00:00:00Z'), action: 'refused', code: 'token_invalid', source: 'x' });
      const metrics = new ConsoleMetrics({ registry });
      metrics.refusedForLoad('rate_limited');
      const issuer = metrics.timedIssuer({ certificate: undefined as never, issue: async () => ({}) as never });
      await issuer.issue({} as never);
      const text = await metrics.render(new Date('2026-06-01T00:00:00Z'));
      for (const name of REQUIRED) assert.match(text, new RegExp(`^${name}[{ ]`, 'm'), name);
      assert.match(text, /^fleetcert_enrollment_outcomes_total\{action="issued",code=""\} 1$/m);
      assert.match(text, /^fleetcert_enrollment_outcomes_total\{action="refused",code="token_invalid"\} 1$/m);
      assert.match(text, /^fleetcert_devices\{status="active"\} 1$/m);
      assert.match(text, /^fleetcert_certificates_expiring\{within="1d"\} 1$/m);
      assert.match(text, /^fleetcert_token_uses_left\{token="t1",name="t1"\} 9$/m);
      assert.match(text, /^fleetcert_load_refused_requests_total\{code="rate_limited"\} 1$/m);
      assert.match(text, /^fleetcert_issuance_duration_seconds_count 1$/m);
      // prom-client's own process metrics (nodejs_active_handles_total gauges) draw lint remarks; ours draw none.
      const lint = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
      const remarks = (lint.stdout + lint.stderr).split('\n').filter((l) => l.trim() !== '' && !l.startsWith('fleetcert_process_'));
      assert.equal(remarks, []);

      // Every fleetcert_* series the example rules use is one /metrics exposes (the CRL ones need a broker).
      const used = new Set(readFileSync(RULES, 'utf8').match(/fleetcert_[a-z_]+/g));
      const crl = ['fleetcert_crl_next_update_timestamp_seconds', 'fleetcert_crl_this_update_timestamp_seconds'];
      for (const name of used) {
        if (crl.includes(name)) assert.match(text, new RegExp(`^# TYPE ${name} gauge$`, 'm'), name);
        else assert.match(text, new RegExp(`^${name}[{ ]`, 'm'), `${name} (used by the alert rules)`);
      }
    } finally {
      await registry.close();
    }
  });
});

test('deploy/prometheus/fleetcert-alerts.yml passes promtool check rules', () => {
  const out = execFileSync('promtool', ['check', 'rules', RULES], { encoding: 'utf8' });
  assert.match(out, /SUCCESS: \d+ rules found/);
});

test.run();
