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
 *   BENCH_AGENT_BASE=/path/to/other/checkout/bin/gear: also load that agent,
 *   alternating with this one (BENCH_AGENT_ROUNDS rounds), for a
 *   before/after in the same conditions on a shared machine.
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

  const auth = { authorization: `Bearer ${TOKEN}` };
  const us = (seconds: number, count: number) => (seconds * 1e6) / count;
  /** One agent (this checkout's, or another's gear: BENCH_AGENT_BASE) idle, then under the load. */
  async function measureAgent(bin: string) {
    await stopAgent(H);
    await sh(H, 'systemctl reset-failed gear-agent 2>/dev/null; true');
    await sh(H, `systemd-run --unit=gear-agent --collect -p Restart=no ${bin} daemon ${agentArgs.join(' ')} >/dev/null; until curl -sf --unix-socket /run/gear/gear.sock http://a/health >/dev/null 2>&1; do sleep 0.05; done`);
    const body = (await run(H, ['curl', '-s', '--unix-socket', '/run/gear/gear.sock', 'http://a/containers?all=1'])).stdout;
    await sh(H, 'sleep 0.5');
    // Idle, before any load: the agent has served one listing.
    const idle = await rssKiB('gear-agent');
    // The agent, systemd (it answers the agent's DBus calls) and dbus-daemon (it carries them).
    const pids = [await mainPid('gear-agent'), '1', await mainPid('dbus')];
    const cpu0 = await cpuSeconds(pids);
    const loading = load(43273, '/containers?all=1', auth);
    const peak = await peakRss('gear-agent', loading);
    const a = await loading;
    const cpu1 = await cpuSeconds(pids);
    const since = (await sh(H, 'systemctl show -p InvocationID --value gear-agent')).trim();
    await stopAgent(H);
    // What the agent logs when it stops (this checkout's agent; an older one does not say).
    const said = await sh(H, `journalctl _SYSTEMD_INVOCATION_ID=${since} -o cat --no-pager | grep 'Pings to systemd' | tail -1 || true`);
    const pings = /: (\d+), Pings to systemd for them: (\d+)/.exec(said);
    return { body, idle, peak, a, cpu: cpu1.map((c, i) => us(c - cpu0[i]!, a.count)), pingsPerListing: pings ? Number(pings[2]) / Number(pings[1]) : undefined };
  }

  const base = process.env.BENCH_AGENT_BASE;
  const ROUNDS = Number(process.env.BENCH_AGENT_ROUNDS ?? 1);
  await startAgent(H, agentArgs);
  const body = (await run(H, ['curl', '-s', '--unix-socket', '/run/gear/gear.sock', 'http://a/containers?all=1'])).stdout;
  await stopAgent(H);
  await sh(H, `systemd-run --unit=bench-baseline --collect ${baselineServer(body)} >/dev/null; sleep 0.5`);
  // Idle, before any load.
  const baseIdle = await rssKiB('bench-baseline');
  const basePid = await mainPid('bench-baseline');

  for (let round = 1; round <= ROUNDS; round++) {
    if (ROUNDS > 1) console.log(`round ${round} of ${ROUNDS} (load average ${(await sh(H, 'cut -d" " -f1-3 /proc/loadavg')).trim()})`);
    // This checkout's agent, then (if asked) the other, then the bare server: the same conditions within a round.
    const m = await measureAgent(GEAR);
    const o = base ? await measureAgent(base) : undefined;
    const [b0] = await cpuSeconds([basePid]);
    const b = await load(43274, '/', {});
    const [b1] = await cpuSeconds([basePid]);
    const baseCpu = us(b1! - b0!, b.count);
    const a = m.a;

    console.log(`GET /containers?all=1 (${(m.body.length / 1024).toFixed(0)} KiB): ${a.rps.toFixed(0)} req/s, p50 ${a.p50.toFixed(1)} ms, p99 ${a.p99.toFixed(1)} ms, ${a.errors} errors`);
    line('agent requests per second', `${a.rps.toFixed(0)}/s`, a.rps / b.rps, `bare node server (${b.rps.toFixed(0)}/s)`);
    const total = m.cpu.reduce((x, y) => x + y, 0);
    line('CPU per listing (agent+systemd+dbus-daemon)', `${total.toFixed(0)} µs`, total / baseCpu, `bare node server (${baseCpu.toFixed(0)} µs)`);
    console.log(`  of which agent ${m.cpu[0]!.toFixed(0)} µs, systemd ${m.cpu[1]!.toFixed(0)} µs, dbus-daemon ${m.cpu[2]!.toFixed(0)} µs${m.pingsPerListing === undefined ? '' : `; ${m.pingsPerListing.toFixed(3)} Pings per listing`}`);
    line('agent p99 latency at 50 clients', `${a.p99.toFixed(1)} ms`, a.p99 / b.p99, `bare node server (${b.p99.toFixed(1)} ms)`);
    line('agent RSS idle', `${(m.idle / 1024).toFixed(1)} MiB`, m.idle / baseIdle, `bare node server (${(baseIdle / 1024).toFixed(1)} MiB)`);
    line('agent RSS peak under load', `${(m.peak / 1024).toFixed(1)} MiB`, m.peak / m.idle, 'agent idle');
    if (o) {
      const ot = o.cpu.reduce((x, y) => x + y, 0);
      console.log(`other agent (${base}): ${o.a.rps.toFixed(0)} req/s, p50 ${o.a.p50.toFixed(1)} ms, p99 ${o.a.p99.toFixed(1)} ms, ${o.a.errors} errors`);
      line('  other agent requests per second', `${o.a.rps.toFixed(0)}/s`, o.a.rps / b.rps, 'bare node server');
      line('  other agent CPU per listing', `${ot.toFixed(0)} µs`, ot / baseCpu, `bare node server (agent ${o.cpu[0]!.toFixed(0)}, systemd ${o.cpu[1]!.toFixed(0)}, dbus-daemon ${o.cpu[2]!.toFixed(0)} µs)`);
      line('  other agent p99 latency', `${o.a.p99.toFixed(1)} ms`, o.a.p99 / b.p99, 'bare node server');
      line('  other agent RSS idle', `${(o.idle / 1024).toFixed(1)} MiB`, o.idle / baseIdle, 'bare node server');
      line('this agent / other: requests per second', `${a.rps.toFixed(0)}/s`, a.rps / o.a.rps, `other (${o.a.rps.toFixed(0)}/s)`);
      line('this agent / other: CPU per listing', `${total.toFixed(0)} µs`, total / ot, `other (${ot.toFixed(0)} µs)`);
      line('this agent / other: p99', `${a.p99.toFixed(1)} ms`, a.p99 / o.a.p99, `other (${o.a.p99.toFixed(1)} ms)`);
      line('this agent / other: RSS idle', `${(m.idle / 1024).toFixed(1)} MiB`, m.idle / o.idle, `other (${(o.idle / 1024).toFixed(1)} MiB)`);
    }
  }
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
  console.log(`local CLI, one process per listing: ${(1000 / cliMs).toFixed(1)}/s, ${cliMs.toFixed(0)} ms each`);

  await stopAgent(H);
  await gear(H, ['delete', ...names]);
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
