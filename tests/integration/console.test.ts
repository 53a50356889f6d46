import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TEST_HOST as A, gear, hostIp, putFile, remoteAgents, sh, startAgent } from './harness.js';

const B = process.env.GEAR_TEST_HOST_B ?? 'gear-b';

// The web console (issue 16) in a real headless Chromium (Debian's chromium
// package, driven by playwright-core; no browser download) on this machine,
// against the agents of two test hosts over TLS with their token, as users
// reach them: https://HOST:43273/ui/, each agent told about the other
// (--console-peer), so that one page shows both hosts. Screenshots of the main pages go to
// GEAR_CONSOLE_SCREENSHOTS (default: a temp directory; docs/console/ holds a set).

const agents = remoteAgents([A, B]);
const originOf = (host: string) => `https://${hostIp(host)}:43273`;
const urlOf = (host: string) => `${originOf(host)}/ui/`;
const shots = process.env.GEAR_CONSOLE_SCREENSHOTS ?? join(process.env.TMPDIR ?? '/tmp', 'gear-console-screenshots');
const WAIT = { timeout: 60_000 };
const line = `console-line-${randomBytes(4).toString('hex')}`;

/** The instances the deployment test made (deleted after). */
let deployed: { Id: string; From: string; On: string; Links?: { ToHost: string; ToPort: number }[]; Ports: { External: number }[] }[] = [];
let browser: Browser;
let context: BrowserContext;
/** What the pages logged as errors (CSP violations would show up here). */
const errors: string[] = [];

async function open(host: string): Promise<Page> {
  const page = await context.newPage();
  page.on('console', (m) => {
    // 401: the wrong token's refusal; ERR_NETWORK_CHANGED: see below (the page tries again).
    if (m.type() === 'error' && !/status of 401|ERR_NETWORK_CHANGED/.test(m.text())) errors.push(`${host}: ${m.text()}`);
  });
  page.on('pageerror', (e) => errors.push(`${host}: ${e.message}`));
  // Chromium aborts a load with ERR_NETWORK_CHANGED when the machine's interfaces change (test hosts of other
  // runs come and go on this machine): the navigation is tried again then, as a user would reload.
  for (let attempt = 1; ; attempt++) {
    try {
      await page.goto(urlOf(host));
      return page;
    } catch (err) {
      if (attempt >= 4 || !/ERR_NETWORK_CHANGED/.test(String(err))) throw err;
    }
  }
}

async function logIn(page: Page, token: string): Promise<void> {
  await page.getByLabel('Agent token').fill(token);
  await page.getByRole('button', { name: 'Log in' }).click();
}

const row = (page: Page, id: string) => page.locator(`#containers tbody tr[data-id="${id}"]`);
const rowIn = (page: Page, id: string, state: string) => page.locator(`#containers tbody tr[data-id="${id}"][data-state="${state}"]`);

test.before(async () => {
  mkdirSync(shots, { recursive: true });
  await agents.start();
  // Each agent told about the other (--console-peer): its console lists both hosts' containers.
  await startAgent(A, [...agents.agentArgs, '--console-peer', originOf(B)]);
  await startAgent(B, [...agents.agentArgs, '--console-peer', originOf(A)]);
  for (const [host, name, start] of [[A, 'c16ui-web', true], [A, 'c16ui-idle', false], [B, 'c16ui-b', true]] as const) {
    const r = await gear(host, ['install', 'test/web', name, '-p', '8080:0', ...(start ? ['--start'] : [])]);
    assert.is(r.code, 0, r.stderr);
  }
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
  // The agents' certificate is made by the test for the hosts' addresses, trusted by the CLI with --ca; Chromium is told to accept it.
  context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 720 } });
});

test.after(async () => {
  await browser?.close();
  for (const [host, name] of [[A, 'c16ui-web'], [A, 'c16ui-idle'], [B, 'c16ui-b']] as const) await gear(host, ['delete', name]);
  for (const i of deployed) await gear(i.On === hostIp(A) ? A : B, ['delete', i.Id]);
  await agents.stop();
});

test('a wrong token is refused: the login stays, no container is shown', async () => {
  const page = await open(A);
  await page.screenshot({ path: join(shots, 'login.png') });
  await logIn(page, 'wrong-token-0123456789abcdef');
  await page.getByText('The agent refused this token.').waitFor(WAIT);
  assert.is(await page.locator('#containers').count(), 0);
  assert.is(await page.evaluate(() => sessionStorage.getItem('gear.token')), null, 'a refused token is not kept');
  await page.close();
});

test('log in with the token: the containers of the agent, state in words, image and ports', async () => {
  const page = await open(A);
  await logIn(page, agents.token);
  await row(page, 'c16ui-web').waitFor(WAIT);
  await row(page, 'c16ui-idle').waitFor(WAIT);
  assert.match(await row(page, 'c16ui-web').innerText(), /active \(running\)\s+test\/web\s+\d+→8080/);
  assert.match(await row(page, 'c16ui-idle').innerText(), /inactive/);
  assert.is(await page.evaluate(() => sessionStorage.getItem('gear.token')), agents.token, 'kept in the tab session');
  assert.is(await page.evaluate(() => localStorage.length), 0, 'nothing in localStorage');
  // Filter and sort.
  await row(page, 'c16ui-b').waitFor(WAIT);
  await page.getByLabel('Filter').fill('idle');
  assert.is(await page.locator('#containers tbody tr').count(), 1);
  await page.getByLabel('Filter').fill('');
  await page.getByRole('button', { name: 'Name' }).click();
  assert.is(await page.locator('#containers thead th[aria-sort=descending]').count(), 1);
  await page.getByRole('button', { name: 'Name' }).click();
  await page.close();
});

test("one page, two hosts: the peer's containers beside this agent's, each agent called directly", async () => {
  const page = await open(A);
  await logIn(page, agents.token);
  await row(page, 'c16ui-b').waitFor(WAIT);
  assert.is(await row(page, 'c16ui-b').getAttribute('data-agent'), originOf(B));
  assert.is(await row(page, 'c16ui-web').getAttribute('data-agent'), 'self');
  assert.match(await row(page, 'c16ui-b').innerText(), new RegExp(`c16ui-b\\s+${hostIp(B).replace(/\./g, '\\.')}:43273\\s+. active \\(running\\)`));
  assert.match(await page.locator('.peers').innerText(), /connected/);
  await page.locator('body[data-ready=true]').waitFor(WAIT);
  await page.screenshot({ path: join(shots, 'containers.png') });
  // Stopped on the peer from this page (its own CORS answer, this agent's token), then started there behind the page's back.
  await page.getByRole('button', { name: `Stop c16ui-b on ${hostIp(B)}:43273` }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Stop' }).click();
  await rowIn(page, 'c16ui-b', 'inactive').waitFor(WAIT);
  assert.is((await sh(B, 'systemctl is-active ctr-c16ui-b || true')).trim(), 'inactive');
  assert.is((await gear(B, ['start', 'c16ui-b'])).code, 0);
  await rowIn(page, 'c16ui-b', 'active').waitFor(WAIT);
  // The peer container's own page: its unit, read from the peer.
  await page.getByRole('link', { name: 'c16ui-b' }).click();
  await page.locator('#unit-file').getByText('# /etc/systemd/system/ctr-c16ui-b.service').waitFor(WAIT);
  assert.match(await page.locator('h1').innerText(), new RegExp(`Container c16ui-b on ${hostIp(B).replace(/\./g, '\\.')}:43273`));
  await page.close();
});

test("the second host's own console shows its containers and the first host's", async () => {
  const page = await open(B);
  await logIn(page, agents.token);
  await row(page, 'c16ui-b').waitFor(WAIT);
  assert.is(await row(page, 'c16ui-b').getAttribute('data-agent'), 'self');
  await row(page, 'c16ui-web').waitFor(WAIT);
  assert.is(await row(page, 'c16ui-web').getAttribute('data-agent'), originOf(A));
  await page.close();
});

test('stop from the page (with confirmation), and a start behind its back: both seen without reloading', async () => {
  const page = await open(A);
  await logIn(page, agents.token);
  await row(page, 'c16ui-web').waitFor(WAIT);
  // A Cancel changes nothing.
  await page.getByRole('button', { name: 'Stop c16ui-web' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();
  assert.is((await sh(A, 'systemctl is-active ctr-c16ui-web || true')).trim(), 'active');
  // Keyboard only: focus the button, Enter, then confirm.
  await page.getByRole('button', { name: 'Stop c16ui-web' }).focus();
  await page.keyboard.press('Enter');
  await page.getByRole('dialog').getByRole('button', { name: 'Stop' }).click();
  await rowIn(page, 'c16ui-web', 'inactive').waitFor(WAIT);
  assert.match(await row(page, 'c16ui-web').innerText(), /inactive/);
  assert.is((await sh(A, 'systemctl is-active ctr-c16ui-web || true')).trim(), 'inactive');
  await page.screenshot({ path: join(shots, 'stopped.png') });
  // Started by the CLI on the host: the page learns it from the event stream.
  assert.is((await gear(A, ['start', 'c16ui-web'])).code, 0);
  await rowIn(page, 'c16ui-web', 'active').waitFor(WAIT);
  assert.match(await row(page, 'c16ui-web').innerText(), /active \(running\)/);
  await page.close();
});

test("a container's page: status, the unit as systemd loaded it, its log live with pause and search", async () => {
  const page = await open(A);
  await logIn(page, agents.token);
  await page.getByRole('link', { name: 'c16ui-web' }).click();
  await page.locator('#status-list dd[data-field="State"]').getByText('active (running)').waitFor(WAIT);
  await page.locator('#unit-file').getByText('# /etc/systemd/system/ctr-c16ui-web.service').waitFor(WAIT);
  assert.match(await page.locator('#unit-file').innerText(), /ExecStart=/);
  // What systemctl cat shows, in the page and from `gear unit-file` (the same operation through the CLI).
  const cat = (await sh(A, 'systemctl cat ctr-c16ui-web')).trim();
  assert.is((await page.locator('#unit-file').innerText()).trim(), cat);
  const cli = await gear(A, ['unit-file', 'c16ui-web']);
  assert.is(cli.code, 0, cli.stderr);
  assert.is(cli.stdout.trim(), cat);
  // A line the container prints now arrives in the followed log.
  await sh(A, `docker exec ctr-c16ui-web sh -c 'echo ${line} > /proc/1/fd/1'`);
  await page.locator('#log').getByText(line).waitFor(WAIT);
  // Paused: new lines are held, then shown on resume.
  await page.getByRole('button', { name: 'Pause' }).click();
  await sh(A, `docker exec ctr-c16ui-web sh -c 'echo ${line}-held > /proc/1/fd/1'`);
  await page.getByText(/Paused: 1 new line held/).waitFor(WAIT);
  assert.is(await page.locator('#log').getByText(`${line}-held`).count(), 0);
  await page.getByRole('button', { name: 'Resume' }).click();
  await page.locator('#log').getByText(`${line}-held`).waitFor(WAIT);
  // Search shows the matching lines only.
  await page.getByLabel('Search').fill(`${line}-held`);
  assert.is(await page.locator('#log .line').count(), 1);
  await page.getByLabel('Search').fill('');
  await page.screenshot({ path: join(shots, 'container.png'), fullPage: true });
  await page.close();
});

test("a deployment's page: the resolved file's instances per host, with their state and the instances their links reach", async () => {
  writeFileSync(
    join(agents.dir, 'c16app.json'),
    JSON.stringify({ containers: [
      { name: 'c16web', image: 'test/web', count: 2, publicports: [{ internal: 8080, external: 0 }], links: [{ to: 'c16db' }] },
      { name: 'c16db', image: 'test/web', count: 1, publicports: [{ internal: 8080, external: 0 }] },
    ] }),
  );
  const r = await agents.cli(['deploy', 'c16app.json', hostIp(A), hostIp(B)]);
  const file = /wrote (\S+)/.exec(r.stdout + r.stderr)?.[1];
  if (file) deployed = JSON.parse(readFileSync(join(agents.dir, file), 'utf8')).Instances;
  assert.is(r.code, 0, r.stderr);
  assert.ok(file, r.stdout);
  assert.is(new Set(deployed.map((i) => i.On)).size, 2, 'instances on both hosts');
  const page = await open(A);
  await logIn(page, agents.token);
  await row(page, 'c16ui-web').waitFor(WAIT);
  await page.getByRole('link', { name: 'Deployment' }).click();
  await page.getByLabel('Resolved deployment file').setInputFiles(join(agents.dir, file!));
  const db = deployed.find((i) => i.From === 'c16db')!;
  for (const i of deployed) {
    const tr = page.locator(`section[data-host="${i.On}"] tr[data-instance="${i.Id}"][data-state="active"]`);
    await tr.waitFor(WAIT);
    if (i.From === 'c16web') assert.match(await tr.innerText(), new RegExp(`→ ${db.Id} on ${db.On.replace(/\./g, '\\.')}`), i.Id);
  }
  await page.screenshot({ path: join(shots, 'deployment.png'), fullPage: true });
  // Live here too: an instance stopped on its host shows it.
  assert.is((await gear(db.On === hostIp(A) ? A : B, ['stop', db.Id])).code, 0);
  await page.locator(`section[data-host="${db.On}"] tr[data-instance="${db.Id}"][data-state="inactive"]`).waitFor(WAIT);
  await page.close();
});

test("a peer that refuses this agent's token: the page says so, shows this agent's containers, and takes the peer's own token", async () => {
  const other = 'other-token-0123456789abcdef';
  await putFile(B, '/root/gear-other.token', `${other}\n`);
  await startAgent(B, [...agents.agentArgs.map((a) => (a === '/root/gear.token' ? '/root/gear-other.token' : a)), '--console-peer', originOf(A)]);
  const page = await open(A);
  await logIn(page, agents.token);
  await row(page, 'c16ui-web').waitFor(WAIT);
  await page.locator(`.peers li[data-peer="${originOf(B)}"]`).getByText('refused the token').waitFor(WAIT);
  assert.is(await row(page, 'c16ui-b').count(), 0);
  // A wrong one is refused again; the right one connects.
  await page.getByLabel(`Token for ${hostIp(B)}:43273`).fill('still-wrong-0123456789abcdef');
  await page.getByRole('button', { name: 'Connect' }).click();
  await page.locator('#status').getByText('refused this token').waitFor(WAIT);
  await page.getByLabel(`Token for ${hostIp(B)}:43273`).fill(other);
  await page.getByRole('button', { name: 'Connect' }).click();
  await row(page, 'c16ui-b').waitFor(WAIT);
  assert.is(await page.evaluate((o) => sessionStorage.getItem(`gear.token ${o}`), originOf(B)), other);
  await page.close();
});

test('the pages ran without errors (no CSP violation, no script error)', () => {
  assert.equal(errors, []);
});

test.run();
