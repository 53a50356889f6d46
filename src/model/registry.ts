import { DIGEST, sha256 } from './image-archive.js';
import { validateImage } from './names.js';

/**
 * The pure part of the agent's read-only registry (OCI distribution API,
 * pull side): what a /v2/ path names, the manifest of a local image and
 * the errors, in the API's own JSON form. Layers are served as `docker
 * save` has them, uncompressed: a layer's blob digest is its diff id.
 */

export const API_VERSION_HEADER = { 'docker-distribution-api-version': 'registry/2.0' };

export const MEDIA = {
  schema2: 'application/vnd.docker.distribution.manifest.v2+json',
  schema2Config: 'application/vnd.docker.container.image.v1+json',
  schema2Layer: 'application/vnd.docker.image.rootfs.diff.tar',
  oci: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
} as const;

/** The error codes of the distribution spec gear answers with. */
export type RegistryErrorCode = 'NAME_INVALID' | 'NAME_UNKNOWN' | 'MANIFEST_UNKNOWN' | 'BLOB_UNKNOWN' | 'DIGEST_INVALID' | 'TAG_INVALID' | 'UNAUTHORIZED' | 'DENIED' | 'UNSUPPORTED';

export class RegistryError extends Error {
  constructor(
    readonly status: number,
    readonly code: RegistryErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'RegistryError';
  }
}

/** The error body the spec gives: {"errors":[{code, message, detail}]}. */
export const errorBody = (code: RegistryErrorCode, message: string) => JSON.stringify({ errors: [{ code, message, detail: null }] });

/** The code of a refusal by the listener's guard (auth, Host, Origin, type). */
export const codeOfRefusal = (status: number): RegistryErrorCode => (status === 401 ? 'UNAUTHORIZED' : status === 403 ? 'DENIED' : 'UNSUPPORTED');

// The spec's repository name: path components of lowercase alphanumerics joined by ".", "_", "__" or dashes.
const COMPONENT = '[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*';
const NAME = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

export const isV2Path = (url: string | undefined) => /^\/v2(?:\/|$|\?)/.test(url ?? '');

/** A reference: a tag, or a manifest's digest. */
export type Reference = { tag: string } | { digest: string };

export type V2Route =
  | { kind: 'base' }
  | { kind: 'manifest'; name: string; ref: Reference }
  | { kind: 'blob'; name: string; digest: string }
  | { kind: 'tags'; name: string };

/**
 * What a /v2/ path (as sent: not percent-decoded, without its query) asks
 * for. Names and references are taken only when they match the spec's
 * grammar exactly: `..`, `%2e`, `//`, upper case never do (400).
 */
export function parseV2Path(path: string): V2Route {
  if (path === '/v2' || path === '/v2/') return { kind: 'base' };
  const m = /^\/v2\/(.+)\/(manifests|blobs)\/([^/]+)$/.exec(path) ?? /^\/v2\/(.+)\/(tags)\/(list)$/.exec(path);
  if (!m) throw new RegistryError(404, 'UNSUPPORTED', `no such registry route: ${path.slice(0, 200)}`);
  const name = validateName(m[1]!);
  if (m[2] === 'tags') return { kind: 'tags', name };
  const ref = m[3]!;
  if (m[2] === 'blobs') return { kind: 'blob', name, digest: validateDigest(ref) };
  if (ref.includes(':')) return { kind: 'manifest', name, ref: { digest: validateDigest(ref) } };
  if (!TAG.test(ref)) throw new RegistryError(400, 'TAG_INVALID', `tag ${JSON.stringify(ref.slice(0, 200))} is not a valid tag`);
  return { kind: 'manifest', name, ref: { tag: ref } };
}

export function validateName(name: string): string {
  // The same name must also be a valid image reference here (docker inspect takes it as one).
  const ok = name.length <= 255 && NAME.test(name) && (() => {
    try {
      validateImage(`${name}:latest`);
      return true;
    } catch {
      return false;
    }
  })();
  if (!ok) throw new RegistryError(400, 'NAME_INVALID', `repository name ${JSON.stringify(name.slice(0, 200))} is not valid: lowercase path components of letters, digits and . _ -`);
  return name;
}

export function validateDigest(digest: string): string {
  if (!DIGEST.test(digest)) throw new RegistryError(400, 'DIGEST_INVALID', `digest ${JSON.stringify(digest.slice(0, 200))} is not valid: sha256: and 64 lowercase hexadecimal digits`);
  return digest;
}

/** An image as its registry manifest needs it: the config's bytes and each layer's diff id and size, lowest first. */
export interface ImageDescription {
  /** sha256 of config: the image id. */
  id: string;
  config: Buffer;
  layers: { diffId: string; size: number }[];
}

export type ManifestForm = 'schema2' | 'oci';

/**
 * The manifest of a described image, in one form: a function of the image
 * alone (its config and its layers' bytes), so the same image gives the
 * same bytes, and the same digest, on any agent at any time.
 */
export function manifestOf(image: ImageDescription, form: ManifestForm): { mediaType: string; body: Buffer; digest: string } {
  const t = form === 'oci' ? { m: MEDIA.oci, c: MEDIA.ociConfig, l: MEDIA.ociLayer } : { m: MEDIA.schema2, c: MEDIA.schema2Config, l: MEDIA.schema2Layer };
  const manifest = {
    schemaVersion: 2,
    mediaType: t.m,
    config: { mediaType: t.c, size: image.config.length, digest: image.id },
    layers: image.layers.map((l) => ({ mediaType: t.l, size: l.size, digest: l.diffId })),
  };
  const body = Buffer.from(JSON.stringify(manifest, null, 3));
  return { mediaType: t.m, body, digest: sha256(body) };
}

/**
 * Which form a client's Accept asks for: the Docker form (schema 2) when it
 * names it, or names neither (as the reference registry serves what it
 * has); the OCI form when only that is named.
 */
export function manifestForm(accept: string | string[] | undefined): ManifestForm {
  const types = (Array.isArray(accept) ? accept.join(',') : (accept ?? '')).split(',').map((t) => t.split(';')[0]!.trim().toLowerCase());
  if (types.includes(MEDIA.schema2)) return 'schema2';
  return types.includes(MEDIA.oci) ? 'oci' : 'schema2';
}

/**
 * The token of an Authorization header on /v2/: `Bearer TOKEN`, or `Basic`
 * with the token as the password (what `docker login -u gear` sends; the
 * user name is not looked at). Undefined when there is none.
 */
export function registryToken(authorization: string | undefined): string | undefined {
  if (!authorization) return undefined;
  const m = /^(Bearer|Basic) +(\S+)$/i.exec(authorization.trim());
  if (!m) return undefined;
  if (m[1]!.toLowerCase() === 'bearer') return m[2];
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(m[2]!)) return undefined;
  const text = Buffer.from(m[2]!, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  return colon < 0 ? undefined : text.slice(colon + 1);
}
