import type { Command } from 'commander';
import type { Cli } from '../cli.js';
import * as applyLinks from './apply-links.js';
import * as build from './build.js';
import * as capacity from './capacity.js';
import * as clean from './clean.js';
import * as completion from './completion.js';
import * as daemon from './daemon.js';
import * as definition from './definition.js';
import * as del from './delete.js';
import * as deploy from './deploy.js';
import * as doctor from './doctor.js';
import * as env from './env.js';
import * as exportCmd from './export.js';
import * as images from './images.js';
import * as importCompose from './import.js';
import * as install from './install.js';
import * as lifecycle from './lifecycle.js';
import * as link from './link.js';
import * as listImages from './list-images.js';
import * as listUnits from './list-units.js';
import * as logs from './logs.js';
import * as purge from './purge.js';
import * as repos from './repos.js';
import * as runJob from './run-job.js';
import * as setEnv from './set-env.js';
import * as ssh from './ssh.js';
import * as status from './status.js';
import * as unitFile from './unit-file.js';
import * as update from './update.js';
import * as version from './version.js';

/** Every command, in the order `gear --help` lists them; each registers itself on the program. */
export const commands: { register(program: Command, cli: Cli): void }[] = [
  install,
  update,
  lifecycle,
  del,
  status,
  unitFile,
  definition,
  listUnits,
  logs,
  env,
  setEnv,
  link,
  applyLinks,
  deploy,
  exportCmd,
  importCompose,
  runJob,
  build,
  repos,
  ssh,
  images,
  listImages,
  capacity,
  doctor,
  clean,
  purge,
  daemon,
  completion,
  version,
];
