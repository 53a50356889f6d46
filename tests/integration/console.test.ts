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

/** `expected`: errors this page is meant to see (the agent restarted under it), kept out of the errors checked at the end. */
async function open(host: string, expected?: RegExp): Promise<Page> {
  const page = await context.newPage();
  page.on('console', (m) => {
    // 401: the wrong token's refusal; ERR_NETWORK_CHANGED: see below (the page tries again).
    if (m.type() === 'error' && !/status of 401|ERR_NETWORK_CHANGED/.test(m.text()) && !expected?.test(m.text())) errors.push(`${host}: ${m.text()}`);
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

const argsOfA = () => [...agents.agentArgs, '--console-peer', originOf(B), '--log-stream-seconds', '3'];
/** journald's cursor, as the agent checks it (src/host/journal.ts). */
const CURSOR = /^s=[0-9a-f]{32};i=[0-9a-f]+;b=[0-9a-f]{32};m=[0-9a-f]+;t=[0-9a-f]+;x=[0-9a-f]+$/;

const row = (page: Page, id: string) => page.locator(`#containers tbody tr[data-id="${id}"]`);
const rowIn = (page: Page, id: string, state: string) => page.locator(`#containers tbody tr[data-id="${id}"][data-state="${state}"]`);

test.before(async () => {
  mkdirSync(shots, { recursive: true });
  await agents.start();
  // Each agent told about the other (--console-peer): its console lists both hosts' containers. A's log
  // streams end after 3 s (the agent's setting; 30 by default), so that a followed log is opened again often.
  await startAgent(A, argsOfA());
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

test('the followed log goes on across stream ends and an agent restart: every numbered line once, in order', async () => {
  const page = await open(A, /ERR_CONNECTION_REFUSED|ERR_CONNECTION_RESET|ERR_EMPTY_RESPONSE|ERR_NETWORK_IO_SUSPENDED|status of 50[23]/);
  const opened: string[] = [];
  page.on('request', (r) => {
    if (r.url().includes('/container/c16ui-web/log?')) opened.push(decodeURIComponent(new URL(r.url()).search));
  });
  await logIn(page, agents.token);
  await page.getByRole('link', { name: 'c16ui-web' }).click();
  const seq = `seq-${randomBytes(3).toString('hex')}`;
  const print = (what: string) => sh(A, `docker exec ctr-c16ui-web sh -c 'echo "${seq} ${what}" > /proc/1/fd/1'`);
  await print('start');
  await page.locator('#log').getByText(`${seq} start`).waitFor(WAIT);
  // 150 lines, one every 0.2 s (30 s: about ten of A's 3 s streams), printed by the container itself.
  const N = 150;
  await sh(A, `docker exec -d ctr-c16ui-web sh -c 'i=1; while [ $i -le ${N} ]; do echo "${seq} $i" > /proc/1/fd/1; i=$((i+1)); sleep 0.2; done; echo "${seq} end" > /proc/1/fd/1'`);
  await page.locator('#log').getByText(new RegExp(`${seq} 20$`)).waitFor(WAIT);
  // The agent restarts while the container prints: the page's stream breaks, and it resumes where it was.
  await startAgent(A, argsOfA());
  await page.locator('#log').getByText(`${seq} end`).waitFor({ timeout: 120_000 });
  // Two more streams opened after the last line: the first of them has run its course when the second opens, so a
  // line it repeated would be on the page by then.
  await print('after');
  await page.locator('#log').getByText(`${seq} after`).waitFor(WAIT);
  for (let k = 0; k < 2; k++) await page.waitForRequest((r) => r.url().includes('/container/c16ui-web/log?after='), WAIT);
  const shown = (await page.locator('#log .line').allInnerTexts()).filter((l) => l.includes(`${seq} `)).map((l) => l.slice(l.indexOf(`${seq} `) + seq.length + 1));
  assert.equal(shown, ['start', ...Array.from({ length: N }, (_, i) => String(i + 1)), 'end', 'after'], 'each line once, in order');
  // The follow was opened again and again, each time after the cursor of the last line it had (journald's, checked).
  const after = opened.filter((q) => q.startsWith('?after='));
  assert.ok(after.length >= 5, `reopened after a cursor: ${opened.join(' ')}`);
  for (const q of after) assert.match(q.slice('?after='.length), CURSOR);
  assert.is(opened[0], '?lines=200', 'the first stream: the last 200 lines');
  await page.close();
});

test('a bad cursor is refused with a message; a real one resumes after its line (the API, over TLS with the token)', async () => {
  const get = (query: string, accept = 'text/event-stream') =>
    sh(A, `curl -sk -H 'Authorization: Bearer ${agents.token}' -H 'Accept: ${accept}' -w '\\n%{http_code}' 'https://127.0.0.1:43273/container/c16ui-web/log?${query}'`);
  for (const bad of ['--root=/tmp', 'x', "s=0;i=1'", `s=${'0'.repeat(32)};i=1;b=${'0'.repeat(32)};m=1;t=1;x=1;y=1`]) {
    const out = (await get(`after=${encodeURIComponent(bad).replace(/'/g, '%27')}`)).trim().split('\n');
    assert.is(out.at(-1), '400', bad);
    assert.match(out.slice(0, -1).join('\n'), /"Message":"after must be a journal cursor/, bad);
  }
  // The JSON form: each entry with its cursor; after one of them, exactly the entries that followed it.
  const all = JSON.parse((await get('lines=5', 'application/json')).trim().split('\n').slice(0, -1).join('\n')) as { Entries: { cursor: string; message: string }[] };
  assert.is(all.Entries.length, 5);
  const rest = JSON.parse((await get(`after=${encodeURIComponent(all.Entries[1]!.cursor)}`, 'application/json')).trim().split('\n').slice(0, -1).join('\n')) as typeof all;
  assert.equal(rest.Entries.map((e) => e.message), all.Entries.slice(2).map((e) => e.message));
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
  // The drawing: a box per host holding its instances, each named with its state in words; an arrow per link,
  // from the instance that has it to the one it reaches (the file's own links, resolved as the table does).
  const map = page.getByRole('group', { name: 'Deployment map' });
  await map.waitFor(WAIT);
  for (const i of deployed) {
    const box = map.locator(`g.dep-host[data-host="${i.On}"] .dep-inst[data-instance="${i.Id}"][data-state="active"]`);
    await box.waitFor(WAIT);
    assert.match((await box.textContent()) ?? '', /● active \(running\)$/, i.Id);
    const label = await box.getAttribute('aria-label');
    assert.match(label ?? '', new RegExp(`^${i.Id} \\(${i.From}\\) on ${i.On.replace(/\./g, '\\.')}: active \\(running\\)`), i.Id);
    if (i.From === 'c16web') assert.ok(label?.endsWith(`; links to ${db.Id} on ${db.On}`), label ?? '');
  }
  const links = deployed.flatMap((i) => (i.Links ?? []).map(() => `${i.Id}→${db.Id}`));
  assert.ok(links.length >= 2, 'each web instance links to the database');
  const arrows = await map.locator('path.dep-link').evaluateAll((ps) => ps.map((p) => `${p.getAttribute('data-from')}→${p.getAttribute('data-to')}`));
  assert.equal(arrows.sort(), links.sort(), 'one arrow per link, from the instance that has it to the one it reaches');
  assert.match((await map.locator('desc').textContent()) ?? '', new RegExp(`${deployed.length} instances on 2 hosts, ${links.length} links drawn`));
  await page.screenshot({ path: join(shots, 'deployment.png'), fullPage: true });
  // Live here too: an instance stopped on its host shows it, in the table and the drawing.
  assert.is((await gear(db.On === hostIp(A) ? A : B, ['stop', db.Id])).code, 0);
  await page.locator(`section[data-host="${db.On}"] tr[data-instance="${db.Id}"][data-state="inactive"]`).waitFor(WAIT);
  await map.locator(`.dep-inst[data-instance="${db.Id}"][data-state="inactive"]`).getByText('○ inactive (dead)').waitFor(WAIT);
  // By keyboard: Tab reaches the instances of the drawing; Enter opens one's page.
  const web = deployed.find((i) => i.From === 'c16web')!;
  await page.getByLabel('Resolved deployment file').focus();
  let focused = '';
  for (let k = 0; k < 20 && !focused.startsWith(`${web.Id} (`); k++) {
    await page.keyboard.press('Tab');
    focused = await page.evaluate(() => document.activeElement?.getAttribute('aria-label') ?? '');
  }
  assert.ok(focused.startsWith(`${web.Id} (c16web) on ${web.On}`), focused);
  await page.keyboard.press('Enter');
  await page.locator('h1').getByText(`Container ${web.Id}`).waitFor(WAIT);
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
