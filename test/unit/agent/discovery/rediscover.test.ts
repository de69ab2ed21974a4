import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { rediscoverEndpoints, rediscoveryDue } from '#agent/discovery/rediscover.js';
import { memoryLog } from '../../../helpers/memory-log.js';

test('a browse after 3 failures in a row, then 6, 12, 24, 48, 96, then every 96', () => {
  const due = Array.from({ length: 400 }, (_, i) => i + 1).filter(rediscoveryDue);
  assert.equal(due, [3, 6, 12, 24, 48, 96, 192, 288, 384]);
});

test('configured endpoints are never looked for again (an explicit --broker stays fixed)', async () => {
  const { log, records } = memoryLog();
  const configured = {
    enroll: { url: 'https://10.0.0.5:8443' },
    broker: { host: '10.0.0.5', port: 8883 },
    source: 'configured' as const,
  };
  assert.is(await rediscoverEndpoints(configured, 1, log), undefined);
  assert.equal(records(), [], 'no browse, nothing logged');
});

test.run();
