import { existsSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { invalid } from '../../model/errors.js';
import type { ExportFile } from '../../model/export/quadlet.js';
import type { Cli } from '../cli.js';
import { refuseReadableStdout, sameFile, writePrivateFile } from '../private-output.js';

/** A deployment descriptor (or resolved file) named on the command line, rather than a container. */
const isFile = (arg: string) => existsSync(arg) && statSync(arg).isFile();

/** Each file into DIR (written beside, then renamed: a reader never sees half a file). */
function writeFiles(dir: string, files: ExportFile[], mode: number): string[] {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw invalid(`--output-dir ${dir} is not a directory`);
  return files.map((f) => {
    const path = join(dir, f.Name);
    writeFileSync(`${path}.tmp`, f.Text, { mode });
    renameSync(`${path}.tmp`, path);
    return path;
  });
}

/**
 * `gear export --quadlet [HOST/]NAME|FILE` and `gear export --kube FILE`:
 * an installed container (here or through its agent: GET
 * /container/NAME/export) or every instance of a deployment as Quadlet
 * files, or a deployment as Kubernetes manifests (docs/export.md).
 */
export function register(program: Command, cli: Cli): void {
  program
    .command('export')
    .description('a container or a deployment as Quadlet files (--quadlet), a deployment as Kubernetes manifests (--kube)')
    .argument('<target>', '[HOST[:PORT]/]NAME of an installed container, or a deployment FILE (descriptor or resolved FILE.<timestamp>)')
    .option('--quadlet', 'Quadlet files for podman: one NAME.container per container or instance')
    .option('--kube', 'Kubernetes YAML of a deployment FILE: Deployments/StatefulSets, Services, Secrets')
    .option('-o, --output-dir <dir>', 'write each Quadlet file into DIR instead of printing them')
    .option('--output <file>', '--kube: write the YAML to FILE, readable by you only (0600), replaced whole; its Secrets hold the environment values')
    .action(async (target: string, o: { quadlet?: boolean; kube?: boolean; outputDir?: string; output?: string }) => {
      if (!o.quadlet === !o.kube) throw invalid('export needs one of --quadlet or --kube');
      const warn = (line: string) => process.stderr.write(`gear: export: warning: ${line}\n`);
      const { exportedInstances, kubeAppsOf, kubeObjects, quadletContainer, yamlDocuments, exportFilesText, readDeployment } = await cli.load();
      if (o.kube) {
        if (o.outputDir) throw invalid('--output-dir is for --quadlet; with --kube, --output FILE writes the YAML (0600)');
        if (!isFile(target)) throw invalid(`${target} is not a file: --kube exports a deployment descriptor or the resolved FILE.<timestamp> gear deploy wrote`);
        const { apps, links, notes } = kubeAppsOf(readDeployment(target, warn));
        const out = kubeObjects(apps, links, notes);
        const header = [`# ${target}, exported by gear: apply with kubectl apply -f. The Secrets hold the environment's values.`, ...out.Notes.map((n) => `# Not carried over: ${n.replace(/[\r\n]/g, ' ')}`)];
        const text = `${header.join('\n')}\n${yamlDocuments(out.Objects)}`;
        // As gear import: environment values (often secrets) never land in a file others can read.
        if (o.output !== undefined) {
          if (sameFile(o.output, target)) throw invalid(`--output ${o.output} is the deployment file itself: name another file`);
          writePrivateFile(o.output, text, '--output');
          process.stderr.write(`gear: export: wrote ${o.output} (0600)\n`);
          return;
        }
        if (out.Objects.some((obj) => obj.kind === 'Secret')) refuseReadableStdout('the manifests hold environment values in Secrets (often secrets)', '--output FILE');
        cli.print(text);
        return;
      }
      if (o.output !== undefined) throw invalid('--output is for --kube; --quadlet writes files with --output-dir (they name the environment file, never its values)');
      let files: ExportFile[];
      if (isFile(target)) files = exportedInstances(readDeployment(target, warn)).map((c) => quadletContainer(c, target));
      else {
        const t = cli.target(target);
        files = (await t.backend.call(cli.operations.exportContainer, { params: { id: t.name }, query: { format: 'quadlet' } }, cli.progress)).Files;
      }
      if (files.length === 0) throw invalid(`${target} has no instances to export`);
      if (o.outputDir) for (const path of writeFiles(o.outputDir, files, 0o644)) cli.print(`${path}\n`);
      else cli.print(exportFilesText(files));
    });
}
