import { parseFingerprint } from '../api/client.js';
import { defaultTokenPath } from '../api/listen.js';
import { configFromEnv } from '../host/config.js';
import { Backends, type BackendSource } from './backend.js';
import { readText } from './files.js';

/**
 * What a command's action acts with: the operations (their schemas, the
 * host's adapters, tar-stream and yaml behind them) and the backends that
 * run them. Loaded by Cli.load() once the command line has parsed, so that
 * `--help`, `--version` and a command line refused by its syntax load none
 * of it (docs/decisions.md). One module, so that the bundle splits here
 * once: every split point adds chunks that a start must load.
 */
export { operations } from '../operations/index.js';
export { deploy, deploymentTargets, readDeployment } from './deploy.js';
// What the commands that act on this host itself use (apply-links, ssh-*), and their texts.
export { configFromEnv } from '../host/config.js';
export { Host } from '../host/context.js';
export { formatLink } from '../model/links.js';
export { applyLinksAtStart } from '../operations/links.js';
export { requireRepo } from '../operations/repos.js';
export { linkCount } from '../operations/text.js';
export { updateText } from '../operations/update.js';
// What actions check and print with (the model's parsers, the texts).
export { pullReporter } from './output.js';
export { ImageFrom } from './image-from.js';
export { readEnvFile } from './env-files.js';
export { limitFields } from './limits.js';
export { readableJson } from '../model/deployment/format.js';
export { acrossHosts, doctorText } from '../model/doctor.js';
export { mergeEnv, parseAssignment, renderEnvFile } from '../model/env.js';
export { transferImage } from '../model/image-archive.js';
export { isolationText, selinuxText } from '../model/isolation.js';
export { parseLinkFlag } from '../model/links.js';
export { parsePortFlag } from '../model/ports.js';
export { parseRuntime } from '../model/runtime.js';
export { parseSocketActivation } from '../model/socket-activation.js';
export { SSHD_BEGIN, authorizedKeysLine, parseKeyFile, repoUserComment, sshTarget, sshdBlock, withoutSshdBlock } from '../model/ssh.js';
export { parseVolumeFlag } from '../model/volumes.js';
export { capacityTable } from '../operations/capacity.js';
export { unitText } from '../operations/console.js';
export { definitionText } from '../operations/definition.js';
export { transfer } from '../operations/images.js';
export { linkState, portsText, statusText } from '../operations/text.js';
// gear export's.
export { exportedInstances } from '../model/export/deployment.js';
export { kubeAppsOf, kubeObjects } from '../model/export/kube.js';
export { quadletContainer } from '../model/export/quadlet.js';
export { yamlDocuments } from '../model/export/yaml.js';
export { exportFilesText } from '../operations/export.js';

/** The global options that choose how agents are reached. */
export interface GlobalOptions {
  tokenFile?: string;
  ca?: string;
  fingerprint?: string;
  insecurePlaintext?: boolean;
}

/** The local agent's own token (root only), for agents on this machine's loopback; none when unreadable. */
function localAgentToken(): string | undefined {
  try {
    return readText(defaultTokenPath(configFromEnv()), 'token file').trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Backends per host from the global options and the environment. */
export function makeBackends(o: GlobalOptions, env: NodeJS.ProcessEnv): BackendSource {
  // The token never on a command line: from a file, or the environment.
  const tokenFile = o.tokenFile ?? env.GEAR_TOKEN_FILE;
  const token = tokenFile ? readText(tokenFile, 'token file').trim() : env.GEAR_TOKEN?.trim() || undefined;
  const ca = o.ca ?? env.GEAR_CA;
  const fingerprint = o.fingerprint ?? env.GEAR_FINGERPRINT;
  return new Backends(env, {
    token,
    localToken: () => localAgentToken(),
    tls: ca || fingerprint ? { ca: ca ? Buffer.from(readText(ca, 'CA file')) : undefined, fingerprint: fingerprint ? parseFingerprint(fingerprint) : undefined } : undefined,
    insecurePlaintext: o.insecurePlaintext === true || env.GEAR_INSECURE_PLAINTEXT === '1',
  });
}
