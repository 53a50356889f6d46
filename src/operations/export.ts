import { Type } from '@sinclair/typebox';
import { exportedOf } from '../model/export/container.js';
import { quadletContainer, type ExportFile } from '../model/export/quadlet.js';
import { closed } from '../model/schema.js';
import { requireDefinition } from './common.js';
import { defineOperation, parseId } from './operation.js';

export interface ExportResult {
  Format: 'quadlet';
  Files: ExportFile[];
}

/** Several files as one text: each after a `# ==> NAME <==` line (one file alone: just its text). */
export function exportFilesText(files: ExportFile[]): string {
  if (files.length === 1) return files[0]!.Text;
  return files.map((f) => `# ==> ${f.Name} <==\n${f.Text}`).join('\n');
}

/**
 * `GET /container/:id/export?format=quadlet`: an installed container as
 * Quadlet files (model/export/quadlet.ts) that run it under podman the way
 * its gear unit runs it. Read-only; the env file is referenced by its path
 * on this host, its values are never part of the answer.
 */
export const exportContainer = defineOperation({
  name: 'export',
  method: 'GET',
  path: '/container/:id/export',
  summary: "A container as Quadlet files (format=quadlet): image, ports, env file (by path), volumes, slice, restart, health, limits",
  query: Type.Object({ format: Type.Optional(Type.Literal('quadlet')) }, closed),
  mutates: false,
  http: { text: (r: ExportResult) => exportFilesText(r.Files) },
  parse: (req) => ({ ...parseId(req), Format: req.query.format ?? ('quadlet' as const) }),
  async run(host, req): Promise<ExportResult> {
    const def = await requireDefinition(host, req.Id);
    const links = def.Linked ? await host.store.readLinks(req.Id) : [];
    const c = exportedOf(def, host.store.envFile(def.EnvId ?? def.Id), links);
    // On a podman host the image is podman's, under the name podman gave it (test/web may be
    // localhost/test/web there, not Docker Hub's): that name, when podman's API knows the image.
    if (def.Runtime === 'podman') {
      const tag = (await host.images.inspect(def.Image).catch(() => undefined))?.RepoTags[0];
      if (tag) c.Image = tag;
    }
    return { Format: req.Format, Files: [quadletContainer(c, host.store.definitionFile(def.Id))] };
  },
});
