/**
 * Issue 17 item 3: the console in a real browser (playwright-core driving Debian's chromium,
 * headless). An operator logs in with the admin certificate, watches a device enroll live, approves
 * a pending one and revokes another, which is then cut off at the real Mosquitto; a viewer's
 * action is refused; a form without its CSRF token is refused; the pages log no console error and
 * make no request outside their origin. Screenshots of the main pages are taken on the way
 * (FLEETCERT_UPDATE_SCREENSHOTS=1 writes them to docs/).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { copyFile, mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { startAgent, type AgentProcess } from '../helpers/agent-process.js';
import { boardRoot } from '../helpers/boards.js';
import { bootCard } from '../helpers/boot-card.js';
import { issueAdmin } from '../helpers/console-client.js';
import { boardArgs, createBootstrapToken, startDeviceFleet } from '../helpers/device-fleet.js';
import { repoPath } from '../helpers/repo.js';

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const SERIAL = '100000002a5c3b71'; // the rpi4 fixture board's serial: device ids are <name>-<serial>

/** Every page of a context: console errors and requests to anywhere but the console's origin. */
function watch(context: BrowserContext, origin: string): { errors: string[]; foreign: string[] } {
  const seen = { errors: [] as string[], foreign: [] as string[] };
  context.on('request', (r) => {
    if (new URL(r.url()).origin !== origin) seen.foreign.push(r.url());
  });
  context.on('page', (page) => {
    page.on('console', (m) => {
      if (m.type() === 'error') seen.errors.push(`${page.url()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => seen.errors.push(`${page.url()}: ${e.message}`));
  });
  return seen;
}

async function reloadUntil(page: Page, url: string, text: RegExp, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await page.goto(url);
    if (text.test(await page.content())) return;
    if (Date.now() > deadline) throw new Error(`${url} never showed ${text}:\n${(await page.content()).slice(0, 2000)}`);
    await page.waitForTimeout(300);
  }
}

test('chromium: live enrollment, approve, renew, revoke cut off at Mosquitto; viewer and CSRF refused; no stray request', async () => {
  const fleet = await startDeviceFleet({
    prefix: 'fleetcert-console-',
    token: { name: 'plant3', options: ['--label', 'site=plant3'] },
    serverArgs: ['--console-listen', '127.0.0.1:0', '--pending-retry', '1s'],
  });
  const agents: AgentProcess[] = [];
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  try {
    const { server } = fleet.fleet;
    // The console's certificate names localhost; the browser checks the client-certificate origin exactly.
    const origin = `https://localhost:${new URL(server.consoleUrl!).port}`;
    const operatorP12 = await issueAdmin(server.dataDir, server.passphraseFile, fleet.dir, 'alice', 'operator');
    const viewerP12 = await issueAdmin(server.dataDir, server.passphraseFile, fleet.dir, 'val', 'viewer');
    const contextFor = (p12: { p12Path: string; passphrase: string }, viewport = { width: 1480, height: 760 }) =>
      browser.newContext({
        clientCertificates: [{ origin, pfxPath: p12.p12Path, passphrase: p12.passphrase }],
        ignoreHTTPSErrors: true, // the test CA is not in chromium's store; the client certificate is what is tested
        viewport,
      });
    const operator = await contextFor(operatorP12);
    const seen = watch(operator, origin);
    const page = await operator.newPage();
    await page.goto(`${origin}/`);
    assert.match(await page.locator('header').innerText(), /alice \(operator\)/);

    // A device enrolls while the operator watches the list.
    const alpha = startAgent(['run', ...fleet.agentArgs('alpha')]);
    agents.push(alpha);
    await alpha.waitForEvent('mqtt_connected', 30_000);
    await reloadUntil(page, `${origin}/`, new RegExp(`alpha-${SERIAL}</a>[\\s\\S]*?online`));

    // A board from a manual-approval image waits; the operator approves the key shown.
    const manualBoot = join(fleet.dir, 'manual.json');
    await createBootstrapToken(fleet.fleet, manualBoot, { name: 'lab', options: ['--approval', 'manual'] });
    const beta = startAgent([
      'run',
      ...boardArgs({
        stateDir: fleet.stateDir('beta'),
        bootstrap: bootCard(fleet.dir, 'beta', manualBoot),
        brokerPort: fleet.fleet.brokerPort,
        identityRoot: boardRoot('rpi4-bookworm-arm64'),
        idTemplate: 'beta-{serial}',
      }),
    ]);
    agents.push(beta);
    const betaId = `beta-${SERIAL}`;
    await reloadUntil(page, `${origin}/?status=pending`, new RegExp(`${betaId}</a>`));
    await page.click(`a:text("${betaId}")`);
    await page.click(`button:text("Approve ${betaId} with this key")`);
    assert.match(await page.locator('.notice').innerText(), /Approved/);
    await beta.waitForEvent('mqtt_connected', 30_000);
    await reloadUntil(page, `${origin}/devices/${betaId}`, /badge active/);

    // Renew now: recorded, and pushed over MQTT to the running agent, which renews within seconds.
    await page.locator(`form[action="/devices/${betaId}/renew"] input[name=reason]`).fill('console test');
    await page.click(`button:text("Renew ${betaId} now")`);
    assert.match(await page.locator('.notice').innerText(), /Renewal requested/);
    await beta.waitForEvent('certificate_renewed', 30_000);

    // Revoke alpha from its page: the confirmation names the device; the broker cuts it off.
    const alphaId = `alpha-${SERIAL}`;
    await page.goto(`${origin}/devices/${alphaId}`);
    const revokeForm = page.locator(`form[action="/devices/${alphaId}/revoke"]`);
    await revokeForm.locator('select[name=reason]').selectOption('keyCompromise');
    await revokeForm.locator('input[name=confirm]').fill(alphaId);
    await revokeForm.locator('button').click();
    assert.match(await page.locator('.notice').innerText(), /Revoked: the CRL is published/);
    await alpha.waitForEvent('mqtt_refused', 15_000, { match: { code: 'ERR_SSL_SSLV3_ALERT_CERTIFICATE_REVOKED' } });

    // /metrics for Prometheus, here with a broker: the CRL's dates and the outcomes so far.
    const metrics = await (await operator.request.get(`${origin}/metrics`)).text();
    assert.match(metrics, /^fleetcert_crl_next_update_timestamp_seconds \d+/m);
    assert.match(metrics, /^fleetcert_enrollment_outcomes_total\{action="renewed",code=""\} 1$/m);
    assert.match(metrics, /^fleetcert_devices\{status="revoked"\} 1$/m);

    // A form posted without the session's token (what a forged cross-site form sends) is refused.
    const forged = await operator.request.post(`${origin}/devices/${betaId}/reset`, { form: { confirm: betaId }, maxRedirects: 0 });
    assert.is(forged.status(), 403);

    // A viewer sees the fleet but is offered no action, and one posted anyway is refused.
    const viewerContext = await contextFor(viewerP12);
    const viewerSeen = watch(viewerContext, origin);
    const viewerPage = await viewerContext.newPage();
    await viewerPage.goto(`${origin}/devices/${betaId}`);
    assert.match(await viewerPage.locator('header').innerText(), /val \(viewer\)/);
    assert.is(await viewerPage.locator(`form[action="/devices/${betaId}/revoke"]`).count(), 0);
    const csrf = await viewerPage.locator('input[name=csrf]').first().getAttribute('value');
    const refused = await viewerContext.request.post(`${origin}/devices/${betaId}/revoke`, {
      form: { csrf: csrf!, confirm: betaId, reason: 'unspecified' },
      maxRedirects: 0,
    });
    assert.is(refused.status(), 403);

    // The main pages, for docs/ (and each one is checked for errors and foreign requests like the rest).
    const shots = join(fleet.dir, 'shots');
    await mkdir(shots);
    for (const [name, path] of [
      ['devices', '/'],
      ['device', `/devices/${betaId}`],
      ['health', '/health'],
      ['tokens', '/tokens'],
      ['audit', '/audit'],
    ] as const) {
      await page.goto(`${origin}${path}`);
      await page.screenshot({ path: join(shots, `console-${name}.png`) });
    }
    const phone = await contextFor(operatorP12, { width: 390, height: 760 });
    const phoneSeen = watch(phone, origin);
    const phonePage = await phone.newPage();
    await phonePage.goto(`${origin}/`);
    await phonePage.screenshot({ path: join(shots, 'console-phone.png') });
    // Readable on a phone: the page does not scroll sideways (wide tables scroll inside their box).
    assert.ok(await phonePage.evaluate('document.documentElement.scrollWidth <= window.innerWidth + 1'), 'no sideways scroll');

    for (const s of [seen, viewerSeen, phoneSeen]) {
      assert.equal(s.errors, [], 'no console error');
      assert.equal(s.foreign, [], 'no request outside the console origin');
    }
    for (const name of ['devices', 'device', 'health', 'tokens', 'audit', 'phone']) {
      const file = join(shots, `console-${name}.png`);
      assert.ok((await stat(file)).size > 5_000, `${name} screenshot`);
      if (process.env.FLEETCERT_UPDATE_SCREENSHOTS === '1') await copyFile(file, repoPath('docs', `console-${name}.png`));
    }
  } finally {
    await browser.close();
    for (const agent of agents) await agent.stop();
    await fleet.stop();
  }
});

test.run();
