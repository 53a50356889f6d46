/**
 * The agent under load, with 200 installed containers, against a baseline
 * measured in the same run: a bare Node HTTP server in the same host that
 * answers every request with the same JSON body (the floor for any Node
 * agent), and the local CLI path (`gear list-units --all --json`).
 *   - GET /containers?all=1 from 50 concurrent keep-alive clients: requests
 *     per second and p99 latency;
 *   - the agent's resident memory idle and under that load;
 *   - start-to-ready: from `systemd-run` until the API answers.
 * Usage: GEAR_TEST_HOST=NAME tsx bench/agent.ts  (npm run bench boots the host)
 */
import { Agent, request } from 'node:http';
import { GEAR, TEST_HOST as H, gear, hostIp, run, sh, startAgent, stopAgent } from '../tests/integration/harness.js';
import { NODE } from './common.js';

const ip = hostIp(H);
const TOKEN = 'bench-token-0123456789abcdef';
const CLIENTS = 50;
const DURATION_MS = Number(process.env.BENCH_SECONDS ?? 8) * 1000;
const INSTALLED = 200;

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]!;

/** 50 clients, each sending its next request when the last is answered, for a fixed time. */
async function load(port: number, path: string, headers: Record<string, string>): Promise<{ rps: number; p50: number; p99: number; errors: number; count: number }> {
  const agent = new Agent({ keepAlive: true, maxSockets: CLIENTS });
  const latencies: number[] = [];
  let errors = 0;
  const end = Date.now() + DURATION_MS;
  const one = () =>
    new Promise<void>((resolve) => {
      const t0 = performance.now();
      const req = request({ host: ip, port, path, headers, agent }, (res) => {
        res.resume();
        res.on('end', () => {
          if (res.statusCode === 200) latencies.push(performance.now() - t0);
          else errors++;
          resolve();
        });
      });
      req.on('error', () => {
        errors++;
        resolve();
      });
      req.end();
    });
  const started = performance.now();
  await Promise.all(Array.from({ length: CLIENTS }, async () => {
    while (Date.now() < end) await one();
  }));
  const seconds = (performance.now() - started) / 1000;
  agent.destroy();
  return { rps: latencies.length / seconds, p50: pct(latencies, 50), p99: pct(latencies, 99), errors, count: latencies.length };
}

async function rssKiB(unit: string): Promise<number> {
  const pid = (await sh(H, `systemctl show -p MainPID --value ${unit}`)).trim();
  return Number(/VmRSS:\s+(\d+)/.exec(await sh(H, `cat /proc/${pid}/status`))?.[1]);
}

/**
 * CPU seconds (user + system) the processes have used so far, read in the
 * host: on a shared machine, CPU per request holds still where requests per
 * second swing with the other load.
 */
async function cpuSeconds(pids: string[]): Promise<number[]> {
  const out = await sh(H, pids.map((p) => `cut -d' ' -f14,15 /proc/${p}/stat`).join('; '));
  return out.trim().split('\n').map((l) => l.split(' ').reduce((a, b) => a + Number(b), 0) / 100);
}
const mainPid = async (unit: string) => (await sh(H, `systemctl show -p MainPID --value ${unit}`)).trim();

/** Highest RSS seen while `during` runs. */
async function peakRss(unit: string, during: Promise<unknown>): Promise<number> {
  let peak = 0;
  let done = false;
  void during.finally(() => (done = true));
  while (!done) {
    peak = Math.max(peak, await rssKiB(unit).catch(() => 0));
    await new Promise((r) => setTimeout(r, 200));
  }
  return peak;
}

/** Seconds from systemd-run until `probe` succeeds, measured inside the host. */
async function startToReady(startCmd: string, probe: string): Promise<number> {
  const out = await sh(H, `t0=$(date +%s%N); ${startCmd} >/dev/null; until ${probe} >/dev/null 2>&1; do sleep 0.005; done; echo $(( $(date +%s%N) - t0 ))`);
  return Number(out.trim()) / 1e9;
}

const baselineServer = (body: string) =>
  `${NODE} -e 'const b=${JSON.stringify(body).replace(/'/g, "'\\''")};require("http").createServer((q,s)=>{s.setHeader("content-type","application/json");s.end(b)}).listen(43274,"0.0.0.0")'`;

function line(what: string, value: string, ratio: number, baseline: string): void {
  console.log(`${what.padEnd(46)} ${value.padStart(14)}   ${ratio.toFixed(2)}x ${baseline}`);
}

async function main(): Promise<void> {
  console.log(`host ${H} (${ip}), ${INSTALLED} installed, ${CLIENTS} clients, ${DURATION_MS / 1000} s per load`);
  const names = Array.from({ length: INSTALLED }, (_, i) => `a-${i}`);
  for (let i = 0; i < names.length; i += 50) {
    const r = await gear(H, ['install', 'test/web', ...names.slice(i, i + 50)]);
    if (r.code !== 0) throw new Error(r.stderr);
  }
  await sh(H, `umask 077; echo ${TOKEN} > /root/gear.token`);
  // Plain HTTP on purpose (--insecure-plaintext): the bench compares the agent with a bare node HTTP server.
  const agentArgs = ['--listen', '0.0.0.0:43273', '--token-file', '/root/gear.token', '--insecure-plaintext'];

  // Start-to-ready, 3 times each, medians.
  const agentReady: number[] = [];
  const nodeReady: number[] = [];
  for (let i = 0; i < 3; i++) {
    await stopAgent(H);
    agentReady.push(await startToReady(`systemd-run --unit=gear-agent --collect ${GEAR} daemon ${agentArgs.join(' ')}`, 'curl -sf --unix-socket /run/gear/gear.sock http://a/health'));
    await sh(H, 'systemctl stop bench-baseline 2>/dev/null; true');
    nodeReady.push(await startToReady(`systemd-run --unit=bench-baseline --collect ${baselineServer('{}')}`, 'curl -sf http://127.0.0.1:43274/'));
  }
  await sh(H, 'systemctl stop bench-baseline 2>/dev/null; true');
  const [ar, nr] = [pct(agentReady, 50), pct(nodeReady, 50)];
  line('agent start-to-ready', `${ar.toFixed(2)} s`, ar / nr, `bare node http server (${nr.toFixed(2)} s)`);

  await startAgent(H, agentArgs);
  const idle = await rssKiB('gear-agent');
  const body = (await run(H, ['curl', '-s', '--unix-socket', '/run/gear/gear.sock', 'http://a/containers?all=1'])).stdout;
  await sh(H, `systemd-run --unit=bench-baseline --collect ${baselineServer(body)} >/dev/null; sleep 0.5`);
  // Both idle, before any load: the agent has served one listing, the bare server none.
  const baseIdle = await rssKiB('bench-baseline');

  const auth = { authorization: `Bearer ${TOKEN}` };
  // The agent, systemd (it answers the agent's DBus calls) and dbus-daemon (it carries them).
  const agentPids = [await mainPid('gear-agent'), '1', await mainPid('dbus')];
  const basePid = await mainPid('bench-baseline');
  const cpu0 = await cpuSeconds(agentPids);
  const agentLoad = load(43273, '/containers?all=1', auth);
  const peak = await peakRss('gear-agent', agentLoad);
  const a = await agentLoad;
  const cpu1 = await cpuSeconds(agentPids);
  const [b0] = await cpuSeconds([basePid]);
  const b = await load(43274, '/', {});
  const [b1] = await cpuSeconds([basePid]);
  const us = (seconds: number, count: number) => (seconds * 1e6) / count;
  const agentCpu = cpu1.map((c, i) => us(c - cpu0[i]!, a.count));
  const baseCpu = us(b1! - b0!, b.count);
  await sh(H, 'systemctl stop bench-baseline');

  // The local CLI path: one process per listing.
  const cli: number[] = [];
  for (let i = 0; i < 10; i++) {
    const t0 = performance.now();
    const r = await gear(H, ['list-units', '--all', '--json']);
    if (r.code !== 0) throw new Error(r.stderr);
    cli.push(performance.now() - t0);
  }
  const cliMs = pct(cli, 50);

  console.log(`GET /containers?all=1 (${(body.length / 1024).toFixed(0)} KiB): ${a.rps.toFixed(0)} req/s, p50 ${a.p50.toFixed(1)} ms, p99 ${a.p99.toFixed(1)} ms, ${a.errors} errors`);
  line('agent requests per second', `${a.rps.toFixed(0)}/s`, a.rps / b.rps, `bare node server (${b.rps.toFixed(0)}/s)`);
  const total = agentCpu.reduce((x, y) => x + y, 0);
  line('CPU per listing (agent+systemd+dbus-daemon)', `${total.toFixed(0)} µs`, total / baseCpu, `bare node server (${baseCpu.toFixed(0)} µs)`);
  console.log(`  of which agent ${agentCpu[0]!.toFixed(0)} µs, systemd ${agentCpu[1]!.toFixed(0)} µs, dbus-daemon ${agentCpu[2]!.toFixed(0)} µs`);
  line('agent p99 latency at 50 clients', `${a.p99.toFixed(1)} ms`, a.p99 / b.p99, `bare node server (${b.p99.toFixed(1)} ms)`);
  line('agent requests per second', `${a.rps.toFixed(0)}/s`, a.rps / (1000 / cliMs), `local CLI, one process per call (${(1000 / cliMs).toFixed(1)}/s, ${cliMs.toFixed(0)} ms each)`);
  line('agent RSS idle', `${(idle / 1024).toFixed(1)} MiB`, idle / baseIdle, `bare node server (${(baseIdle / 1024).toFixed(1)} MiB)`);
  line('agent RSS peak under load', `${(peak / 1024).toFixed(1)} MiB`, peak / idle, 'agent idle');

  await stopAgent(H);
  await gear(H, ['delete', ...names]);
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
