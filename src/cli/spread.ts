import { describeError } from '../model/errors.js';
import { transferImage } from '../model/image-archive.js';
import { SpreadPlan, type SpreadStep } from '../model/image-spread.js';
import { operations } from '../operations/index.js';
import { transfer, type TransferProgress } from '../operations/images.js';
import type { Backend } from './backend.js';
import { resultLine } from './commands/images.js';
import { hasImage } from './image-from.js';

/**
 * A deploy's images spread over its hosts before anything is installed
 * (the plan, who sends to whom, is model/image-spread.ts): each image a
 * host lacks comes from a named host that has it, only the layers it
 * lacks, checked before it is loaded (operations/images.ts). When no named
 * host has it, one host pulls it from its registry, the only time the
 * registry is asked for it in this deploy. The bytes pass through this
 * machine, as with push-image --from: agents hold no credentials for each
 * other. Images go one after the other; the transfers of one run at once.
 */

export interface SpreadOptions {
  /** Progress of a transfer to a host (stderr; nothing with -q). */
  progress(host: string): TransferProgress;
  /** A line of what reached a host, or did not (stderr; nothing with -q). */
  report(line: string): void;
}

/** Per host, the images that did not reach it and why (its instances of them are not installed). */
export type SpreadFailures = Map<string, Map<string, string>>;

/**
 * `wanted`: each image and the hosts that install it. `hosts`: every host
 * named (any of them can send what it has).
 */
export async function spreadImages(wanted: Map<string, string[]>, hosts: string[], backendFor: (host: string) => Backend, opts: SpreadOptions): Promise<SpreadFailures> {
  const failures: SpreadFailures = new Map();
  const fail = (host: string, image: string, reason: string) => {
    const mine = failures.get(host) ?? new Map<string, string>();
    mine.set(image, reason);
    failures.set(host, mine);
  };
  for (const [image, wanting] of wanted) {
    let tag: string;
    try {
      tag = transferImage(image);
    } catch {
      // Named by digest: not transferable by name; each host pulls it itself at install, as before.
      opts.report(`${image}: named by digest, not spread: each host that lacks it pulls it`);
      continue;
    }
    for (const [host, reason] of await spreadOne(image, tag, wanting, hosts, backendFor, opts)) fail(host, image, reason);
  }
  return failures;
}

async function spreadOne(image: string, tag: string, wanting: string[], hosts: string[], backendFor: (host: string) => Backend, opts: SpreadOptions): Promise<Map<string, string>> {
  const answers = await Promise.all(hosts.map(async (h) => [h, await hasImage(backendFor(h), tag).catch(describeError)] as const));
  const lost = new Map<string, string>();
  for (const [h, a] of answers) if (typeof a === 'string' && wanting.includes(h)) lost.set(h, `cannot tell whether it has the image: ${a}`);
  const holders = answers.filter(([, a]) => a === true).map(([h]) => h);
  for (const h of holders) if (wanting.includes(h)) opts.report(`${h}: ${tag} is there already: nothing transferred`);
  const plan = new SpreadPlan(
    holders,
    wanting.filter((h) => !lost.has(h)),
  );

  const origin = plan.pullOn;
  if (origin) {
    opts.report(`${origin}: pulling ${tag} from its registry (no named host has it)`);
    try {
      await backendFor(origin).call(operations.imagePull, { params: {}, query: {}, body: { Image: tag } }, {});
      plan.pulled(origin);
      opts.report(`${origin}: ${tag} pulled from its registry`);
    } catch (err) {
      plan.pullFailed(origin, describeError(err));
    }
  }

  const send = async (step: SpreadStep) => {
    const started = Date.now();
    try {
      const r = await transfer(backendFor(step.from).imagePeer(), backendFor(step.to).imagePeer(), tag, opts.progress(step.to));
      plan.received(step);
      opts.report(resultLine(step.to, r, started).replace(' loaded: ', ` loaded from ${step.from}: `).trimEnd());
    } catch (err) {
      plan.failed(step, describeError(err));
      opts.report(`${step.to}: ${tag} not received from ${step.from}: ${describeError(err)}`);
    }
  };
  const inFlight = new Set<Promise<void>>();
  for (;;) {
    for (const step of plan.next()) {
      const p: Promise<void> = send(step).finally(() => inFlight.delete(p));
      inFlight.add(p);
    }
    if (inFlight.size === 0) break;
    await Promise.race(inFlight);
  }
  for (const [h, reason] of plan.failures) lost.set(h, reason);
  return lost;
}
