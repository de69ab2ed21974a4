import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { osNameFromRelease } from '#agent/identity/system-metadata.js';

test('the OS name is PRETTY_NAME, quotes removed', () => {
  const piOs = 'PRETTY_NAME="Raspbian GNU/Linux 12 (bookworm)"\nNAME="Raspbian GNU/Linux"\nVERSION_ID="12"\nID=raspbian\n';
  assert.is(osNameFromRelease(piOs), 'Raspbian GNU/Linux 12 (bookworm)');
  assert.is(osNameFromRelease("PRETTY_NAME='Armbian 24.5.1 bookworm'\n"), 'Armbian 24.5.1 bookworm');
});

test('without PRETTY_NAME: NAME and VERSION_ID; nothing usable: undefined', () => {
  assert.is(osNameFromRelease('NAME=OpenWrt\nVERSION_ID="23.05.3"\n'), 'OpenWrt 23.05.3');
  assert.is(osNameFromRelease('# empty\n\n'), undefined);
});

test.run();
