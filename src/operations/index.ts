import { buildImage } from './build.js';
import { capacity } from './capacity.js';
import { clean } from './clean.js';
import { overview, unitFile } from './console.js';
import { remove } from './delete.js';
import { definition } from './definition.js';
import { doctor } from './doctor.js';
import { getEnv, patchEnv, replaceEnv } from './environment.js';
import { exportContainer } from './export.js';
import { imageInspect, imageLayers, imageList, imagePull } from './images.js';
import { install } from './install.js';
import { addKeys, listKeys, removeKeys } from './keys.js';
import { createRepo, deleteRepo, repoArchive } from './repos.js';
import { runJob } from './jobs.js';
import { restart, start, stop } from './lifecycle.js';
import { link } from './links.js';
import { list } from './list.js';
import { logs } from './logs.js';
import { purge } from './purge.js';
import { ports, status } from './status.js';
import { update } from './update.js';

/** Every operation gear offers; the agent's routes are derived from this list. */
export const operations = { install, start, stop, restart, remove, status, ports, definition, list, logs, getEnv, replaceEnv, patchEnv, link, clean, purge, imageInspect, imageLayers, imageList, imagePull, update, capacity, runJob, buildImage, doctor, exportContainer, overview, unitFile, createRepo, repoArchive, deleteRepo, addKeys, removeKeys, listKeys };
export type { Operation, RawRequest, Progress } from './operation.js';
