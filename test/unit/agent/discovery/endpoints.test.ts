import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { agentConfigSchema } from '../../../../agent/config/agent-config.js';
import { withExplicitEndpoints } from '../../../../agent/discovery/endpoints.js';

const saved = { enroll: { url: 'https://192.168.1.20:8443', servername: 'pi-gw.local' }, broker: { host: '192.168.1.20', port: 8883, servername: 'pi-gw.local' } };

test('saved endpoints are used as they are when nothing is configured', () => {
  assert.equal(withExplicitEndpoints(saved, agentConfigSchema.parse({})), saved);
});

test('an explicit broker or enrollment URL replaces the saved one (the broker moved)', () => {
  const config = agentConfigSchema.parse({ broker: '10.0.0.5:8884', brokerServername: 'mqtt.plant3.example', enrollUrl: 'https://enroll.plant3.example:9443/' });
  assert.equal(withExplicitEndpoints(saved, config), {
    enroll: { url: 'https://enroll.plant3.example:9443' },
    broker: { host: '10.0.0.5', port: 8884, servername: 'mqtt.plant3.example' },
  });
  assert.equal(withExplicitEndpoints(saved, agentConfigSchema.parse({ broker: '[fd00::5]:8883' })).broker, { host: 'fd00::5', port: 8883, servername: undefined });
});

test.run();
