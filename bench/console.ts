/**
 * The web console (issue 16) with 200 installed containers (20 of them
 * running), against a baseline measured in the same run:
 *   - first render: from navigation to the containers' table being filled
 *     (the page's own performance mark `gear:table-filled`, set once the
 *     200 rows are in the DOM), in headless Chromium on this machine talking
 *     to the host's agent over TCP, logged in (token in sessionStorage);
 *     against `gear list-units --all` of the same containers in the host
 *     (the CLI's own listing, start to exit);
 *   - bytes: the page and its assets (HTML, script, style, icon) as sent,
 *     and the data request (GET /containers/overview) of 200 containers.
 * Usage: GEAR_TEST_HOST=NAME tsx bench/console.ts  (npm run bench boots the host)
 */
import { chromium } from 'playwright-core';
import { GEAR, TEST_HOST as H, gear, hostIp, sh, startAgent, stopAgent } from '../tests/integration/harness.js';
import { median, timeInHost } from './common.js';

const ip = hostIp(H);
const TOKEN = 'bench-token-0123456789abcdef';
const INSTALLED = 200;
const RUNNING = 20;
const ROUNDS = Number(process.env.BENCH_CONSOLE_ROUNDS ?? 7);

async function main(): Promise<void> {
  console.log(`host ${H} (${ip}), ${INSTALLED} installed (${RUNNING} running), ${ROUNDS} page loads`);
  const names = Array.from({ length: INSTALLED }, (_, i) => `u-${String(i).padStart(3, '0')}`);
  for (let i = 0; i < names.length; i += 50) {
    const r = await gear(H, ['install', 'test/web', ...names.slice(i, i + 50)]);
    if (r.code !== 0) throw new Error(r.stderr);
  }
  const started = await gear(H, ['start', ...names.slice(0, RUNNING)]);
  if (started.code !== 0) throw new Error(started.stderr);
  await sh(H, `umask 077; echo ${TOKEN} > /root/gear.token`);
  // Plain HTTP (--insecure-plaintext) so that bytes are the page's own, not TLS records.
  await startAgent(H, ['--listen', '0.0.0.0:43273', '--token-file', '/root/gear.token', '--insecure-plaintext']);

  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
  try {
    const context = await browser.newContext();
    // Logged in already: the token where the login form puts it (this tab's sessionStorage).
    await context.addInitScript((t) => sessionStorage.setItem('gear.token', t), TOKEN);
    const page = await context.newPage();
    const bytes = new Map<string, number>();
    page.on('response', async (res) => {
      const path = new URL(res.url()).pathname;
      try {
        bytes.set(path, (await res.body()).length);
      } catch {
        // a stream (GET /events) has no body to read
      }
    });
    const renders: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      await page.goto(`http://${ip}:43273/ui/`);
      await page.locator('body[data-ready=true]').waitFor({ timeout: 120_000 });
      const rows = await page.locator('#containers tbody tr').count();
      if (rows !== INSTALLED) throw new Error(`${rows} rows, not ${INSTALLED}`);
      renders.push(await page.evaluate(() => performance.getEntriesByName('gear:table-filled')[0]!.startTime));
    }
    const render = median(renders.slice(1)); // the first load fills the agent's and systemd's caches
    const cli = await timeInHost(H, [GEAR, 'list-units', '--all'], 5);
    const pageBytes = [...bytes].filter(([p]) => p.startsWith('/ui/')).reduce((s, [, n]) => s + n, 0);
    const data = bytes.get('/containers/overview') ?? 0;
    console.log(`${'console first render, 200 containers'.padEnd(46)} ${`${render.toFixed(0)} ms`.padStart(10)}   ${(render / cli).toFixed(2)}x gear list-units --all in the host (${cli.toFixed(0)} ms)`);
    console.log(`${'console page and assets'.padEnd(46)} ${`${(pageBytes / 1024).toFixed(1)} KiB`.padStart(10)}   (${[...bytes].filter(([p]) => p.startsWith('/ui/')).map(([p, n]) => `${p.slice(4) || 'index.html'} ${n}`).join(', ')} bytes, uncompressed)`);
    console.log(`${'GET /containers/overview, 200 containers'.padEnd(46)} ${`${(data / 1024).toFixed(1)} KiB`.padStart(10)}`);
  } finally {
    await browser.close();
    await stopAgent(H);
    for (let i = 0; i < names.length; i += 50) await gear(H, ['delete', ...names.slice(i, i + 50)]);
  }
}

await main();
