import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { pickNodeRelease } from '#server/image/npm-node-package.js';
import { appendLines, planSystemAccount, sysusersLine } from '#server/image/system-user.js';

const WANTED = { name: 'fleetcert-agent', gecos: 'fleetcert device agent', home: '/var/lib/fleetcert-agent', shell: '/usr/sbin/nologin' };
const PASSWD =
  'root:x:0:0:root:/root:/bin/bash\nsystemd-network:x:998:998::/:/usr/sbin/nologin\nsystemd-timesync:x:997:997::/:/usr/sbin/nologin\n';
const GROUP = 'root:x:0:\nshadow:x:42:\nsystemd-journal:x:999:\nsystemd-network:x:998:\nsystemd-timesync:x:997:\n';

test('a new account: the highest id free as both uid and gid, a line for each account file, locked', () => {
  const edits = planSystemAccount({ passwd: PASSWD, group: GROUP, shadow: 'root:*:19800:0:99999:7:::\n', gshadow: undefined }, WANTED);
  assert.equal([edits.account.uid, edits.account.gid], [996, 996], '999 is a group, 998 and 997 users');
  assert.is(edits.passwd, 'fleetcert-agent:x:996:996:fleetcert device agent:/var/lib/fleetcert-agent:/usr/sbin/nologin\n');
  assert.is(edits.group, 'fleetcert-agent:x:996:\n');
  assert.is(edits.shadow, 'fleetcert-agent:!*:::::::\n');
  assert.is(edits.gshadow, '', 'no gshadow file, nothing to add to it');
  assert.is(sysusersLine(edits.account), 'u fleetcert-agent 996:996 "fleetcert device agent" /var/lib/fleetcert-agent /usr/sbin/nologin\n');
});

test('baking again: the existing account is kept, nothing is added', () => {
  const first = planSystemAccount({ passwd: PASSWD, group: GROUP, shadow: '', gshadow: '' }, WANTED);
  const files = {
    passwd: appendLines(PASSWD, first.passwd),
    group: appendLines(GROUP, first.group),
    shadow: appendLines('', first.shadow),
    gshadow: appendLines('', first.gshadow),
  };
  const again = planSystemAccount(files, WANTED);
  assert.equal([again.account.uid, again.account.gid], [996, 996]);
  assert.equal([again.passwd, again.group, again.shadow, again.gshadow], ['', '', '', '']);
});

test('a group of that name already there: its gid is used; a last line without a newline gets one', () => {
  const edits = planSystemAccount(
    { passwd: PASSWD, group: `${GROUP}fleetcert-agent:x:321:`, shadow: undefined, gshadow: undefined },
    WANTED,
  );
  assert.equal([edits.account.uid, edits.account.gid, edits.group], [321, 321, '']);
  assert.is(appendLines('a:x:1:', 'b:x:2:\n'), 'a:x:1:\nb:x:2:\n');
});

test('pickNodeRelease: by default the newest LTS major (even, first released 6+ months ago), else a major or exact version', () => {
  const dist = (v: string) => ({ dist: { tarball: `https://r/n-${v}.tgz`, integrity: `sha512-${v}` } });
  const released: Record<string, string> = {
    '18.0.0': '2022-04-19T00:00:00Z',
    '18.19.0': '2023-11-29T00:00:00Z',
    '20.11.0': '2024-01-09T00:00:00Z',
    '24.9.0': '2025-09-25T00:00:00Z',
    '24.0.0': '2025-05-06T00:00:00Z',
    '24.22.3': '2026-10-01T00:00:00Z',
    '25.1.0': '2025-11-01T00:00:00Z',
    '26.1.0': '2026-05-01T00:00:00Z',
  };
  const metadata = { versions: Object.fromEntries(Object.keys(released).map((v) => [v, dist(v)])), time: { modified: 'x', ...released } };
  const now = new Date('2026-08-01T00:00:00Z');
  assert.is(pickNodeRelease(metadata, undefined, now)?.version, '24.22.3', '26 is not LTS before its October');
  assert.is(pickNodeRelease(metadata, undefined, new Date('2026-11-20T00:00:00Z'))?.version, '26.1.0', 'and is after it');
  assert.is(pickNodeRelease(metadata, '20', now)?.version, '20.11.0');
  assert.is(pickNodeRelease(metadata, '25.1.0', now)?.integrity, 'sha512-25.1.0');
  assert.is(pickNodeRelease(metadata, '18.0.0', now), undefined, 'nothing older than 18.19');
  assert.is(pickNodeRelease({ versions: metadata.versions }, undefined, now)?.version, '24.22.3', 'without dates: 24 has an x.11');
  const republished = { versions: { '20.0.0': dist('20.0.0'), '20.11.0': dist('20.11.0') }, time: { '20.0.0': now.toISOString() } };
  assert.is(pickNodeRelease(republished, undefined, now)?.version, '20.11.0', 'published today, but 20.11 is LTS');
  const current = { versions: { '26.1.0': dist('26.1.0') }, time: { '26.1.0': now.toISOString() } };
  assert.is(pickNodeRelease(current, undefined, now), undefined, 'a young even major with no x.11 is not LTS');
  assert.is(
    pickNodeRelease({ versions: { '22.0.0': { dist: { tarball: 'x', integrity: 'sha1-abc' } } } }, '22', now),
    undefined,
    'sha512 only',
  );
  assert.is(pickNodeRelease('garbage', undefined, now), undefined);
});

test.run();
