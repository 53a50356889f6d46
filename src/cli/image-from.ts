import { GearError, describeError, notFound } from '../model/errors.js';
import { transfer } from '../operations/images.js';
import type { Backend } from './backend.js';
import type { Cli } from './cli.js';
import { reporter, resultLine } from './commands/images.js';
import { LOCAL_HOST } from './syntax.js';

/**
 * `gear install IMAGE HOST/NAME --from PEER`: before an install, the image
 * goes from PEER to each target host that lacks it, once per host however
 * many of its containers are installed. The bytes pass through this
 * machine (the CLI's credentials reach both agents; agents hold none for
 * each other), as with `push-image --from`. A host that has the image
 * gets nothing. A failed transfer fails the install of that host's
 * targets: nothing is installed there.
 */
export class ImageFrom {
  private readonly brought = new Map<Backend, Promise<void>>();

  constructor(
    private readonly cli: Cli,
    /** NAME:TAG (transferImage's form). */
    private readonly image: string,
    private readonly source: Backend,
    private readonly quiet = false,
  ) {}

  /** The image on `dest`'s host, transferred when it lacks it (one transfer per host, shared by its targets). */
  to(dest: Backend): Promise<void> {
    let p = this.brought.get(dest);
    if (!p) this.brought.set(dest, (p = this.bring(dest)));
    return p;
  }

  private get sourceName(): string {
    return this.source.label || LOCAL_HOST;
  }

  private async bring(dest: Backend): Promise<void> {
    const at = dest.label ? `${dest.label}: ` : '';
    if (await hasImage(dest, this.image)) return void this.cli.print(`${at}${this.image} is there already: nothing transferred\n`);
    const wrap = (err: unknown) =>
      new GearError(err instanceof GearError ? err.kind : 'failed', `image ${this.image} not transferred from ${this.sourceName}: ${describeError(err)}; nothing installed`);
    const there = dest === this.source ? false : await hasImage(this.source, this.image).catch((err) => Promise.reject(wrap(err)));
    if (!there) throw notFound(`image ${this.image} is not on ${this.sourceName} (--from) either: nothing installed`);
    const started = Date.now();
    const r = await transfer(this.source.imagePeer(), dest.imagePeer(), this.image, reporter(dest.label, this.quiet)).catch((err) => Promise.reject(wrap(err)));
    this.cli.print(resultLine(dest.label, r, started).replace(' loaded: ', ` loaded from ${this.sourceName}: `));
  }
}

/** Whether a host has an image (its id answers to the name); any other failure to tell is thrown. */
export async function hasImage(backend: Backend, image: string): Promise<boolean> {
  try {
    await backend.imagePeer().inspect(image);
    return true;
  } catch (err) {
    if (err instanceof GearError && err.kind === 'not-found') return false;
    throw err;
  }
}
