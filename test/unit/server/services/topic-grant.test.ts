import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseServiceName, serviceCommonName } from '#server/services/service-identity.js';
import { parseTopicFilter, parseTopicFilters } from '#server/services/topic-grant.js';
import { deviceIdProblem } from '#shared/protocol/device-id.js';
import { expectCode } from '../../../helpers/expect-error.js';

test('filters a service may be granted', () => {
  for (const f of ['devices/+/status', 'devices/#', '#', '+/x', 'fleetcert/devices/+/status', 'a/b/c', 'plant-3']) {
    assert.is(parseTopicFilter(f, 'read'), f);
  }
  for (const f of ['devices/+/cmd/#', 'devices/dev-a/cmd', 'backend/alerts']) assert.is(parseTopicFilter(f, 'write'), f);
  assert.equal(parseTopicFilters(['a/#', 'b', 'a/#'], 'read'), ['a/#', 'b'], 'duplicates dropped, order kept');
});

test('filters refused: anything that would break or bend an ACL line, misplaced wildcards, $SYS, writes to fleetcert/', async () => {
  const refused: [string, 'read' | 'write'][] = [
    ['', 'read'],
    ['x'.repeat(257), 'read'],
    ['devices/#\nuser fleetcert-server', 'read'], // a second ACL line smuggled in
    ['devices/+/status topic', 'read'],
    ['devices/\u0000', 'read'],
    ['devices/%u/#', 'read'],
    ['$SYS/#', 'read'],
    ['devices/#/x', 'read'],
    ['devices/a#', 'read'],
    ['devices/a+/x', 'read'],
    ['fleetcert/devices/+/command', 'write'],
    ['#', 'write'],
    ['+/devices/x/command', 'write'],
  ];
  for (const [filter, access] of refused) await expectCode(() => parseTopicFilter(filter, access), 'usage');
  await expectCode(
    () =>
      parseTopicFilters(
        Array.from({ length: 33 }, (_, i) => `t/${i}`),
        'read',
      ),
    'usage',
  );
});

test('a service CN is never a device id', async () => {
  for (const name of ['telegraf', 'node-red.1', 'a']) {
    assert.is(serviceCommonName(name), `service:${name}`);
    assert.is(deviceIdProblem(serviceCommonName(name)), 'invalid');
  }
  for (const name of ['', 'Telegraf', '1x', 'a/b', 'x'.repeat(33), 'a:b']) await expectCode(() => parseServiceName(name), 'usage');
});

test.run();
