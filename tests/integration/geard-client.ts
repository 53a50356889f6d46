import { randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';

/**
 * A small client of the agent written from ../shared/GEARD-WIRE.md, not from
 * gear's own client: it sends what geard's `gear` CLI sent and decodes
 * answers the way that client did, so a test passes only if geard's
 * client would have.
 *
 * Requests (section 1): X-Request-Id (16 random bytes, base64url: 22
 * characters), X-Api-Version: 1, Accept: application/json;stream=true; no
 * Content-Type, no token; a body is JSON and a newline, written through a
 * stream (chunked); a route without a body sends none.
 *
 * Answers (section 2): "json" is a Content-Type of exactly application/json.
 *   202, not json   the body, copied as it comes
 *   202, json       "Decoding of streaming JSON has not been implemented"
 *   204             success, no data
 *   other 2xx       not json: "remote: Response with N status code had content type X (should be application/json)";
 *                   json: decoded (only list-units expects a body)
 *   non-2xx, json   {"Message","Data","Error"}: "Error: <Message>"
 *   non-2xx, other  "Error: Unable to decode response."
 */

export interface GeardAnswer {
  status: number;
  /** Header names lower-cased (the client reads them case-insensitively). */
  headers: Record<string, string>;
  /** 202: the text it printed as is. */
  text?: string;
  /** Other 2xx with a JSON body. */
  data?: unknown;
}

/** What geard's client reported when a call failed (it then exits 1). */
export class GeardError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

export const requestId = () => randomBytes(16).toString('base64url');

export class GeardClient {
  /** `host` is HOST or HOST:PORT (port 43273 when left out). */
  constructor(readonly host: string) {}

  private get base() {
    const [name, port = '43273'] = this.host.split(':');
    return { hostname: name, port: Number(port) };
  }

  /** One call: headers and body as geard's client sent them; the answer decoded as it decoded them. */
  async call(method: string, path: string, body?: unknown): Promise<GeardAnswer> {
    const headers: Record<string, string> = {
      'X-Request-Id': requestId(),
      'X-Api-Version': '1',
      Accept: 'application/json;stream=true',
    };
    const res = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
      const req = httpRequest({ ...this.base, method, path, headers }, resolve);
      req.on('error', reject);
      // No Content-Length: Node sends the body chunked, as a Go client writing through a pipe does.
      if (body !== undefined) req.write(`${JSON.stringify(body)}\n`);
      req.end();
    });
    let text = '';
    for await (const chunk of res) text += chunk;
    const status = res.statusCode ?? 0;
    const headersOut = Object.fromEntries(Object.entries(res.headers).map(([k, v]) => [k.toLowerCase(), Array.isArray(v) ? v.join(', ') : (v ?? '')]));
    const type = headersOut['content-type'];
    const json = type === 'application/json';
    if (status === 202) {
      if (json) throw new GeardError('Decoding of streaming JSON has not been implemented', status);
      return { status, headers: headersOut, text };
    }
    if (status === 204) return { status, headers: headersOut };
    if (status >= 200 && status < 300) {
      if (!json) throw new GeardError(`remote: Response with ${status} status code had content type ${type} (should be application/json)`, status);
      return { status, headers: headersOut, data: JSON.parse(text) };
    }
    if (json) {
      let message: unknown;
      try {
        message = (JSON.parse(text) as { Message?: unknown }).Message;
      } catch {
        throw new GeardError('Error: Unable to decode response.', status);
      }
      throw new GeardError(`Error: ${String(message)}`, status);
    }
    throw new GeardError(`${text}\nError: Unable to decode response.`, status);
  }

  /** A change (install, start, ...): 202 text or 204; any other success with a body is refused as geard's client refused it. */
  async change(method: string, path: string, body?: unknown): Promise<GeardAnswer> {
    const a = await this.call(method, path, body);
    if (a.data !== undefined) throw new GeardError('Unexpected response body to request', a.status);
    return a;
  }

  /**
   * install: PUT /container/ID; X-PortMapping read from the headers only
   * (INTERNAL:EXTERNAL[,...], no spaces, 0-65535; absent or empty: none; unparsable fails the install).
   */
  async install(id: string, body: unknown): Promise<GeardAnswer & { ports: { Internal: number; External: number }[] }> {
    const a = await this.change('PUT', `/container/${id}`, body);
    return { ...a, ports: parsePortMapping(a.headers['x-portmapping'] ?? '') };
  }

  /** status and env: they need a 202 with text. */
  async read(path: string): Promise<string> {
    const a = await this.call('GET', path);
    if (a.status !== 202 || !a.text) throw new GeardError(`Response ${a.status} did not return any data`, a.status);
    return a.text;
  }

  /** list-units: GET /containers[?all=1] needs a 200 JSON {Containers: [...]}; the client adds Server (HOST:PORT). */
  async listUnits(all = false): Promise<{ Id: string; ActiveState: string; SubState: string; LoadState: string; JobType?: string; Server: string }[]> {
    const a = await this.call('GET', all ? '/containers?all=1' : '/containers');
    if (a.status !== 200 || a.data === undefined) throw new GeardError('Unexpected empty response body to HttpListContainersRequest', a.status);
    const { Containers } = a.data as { Containers: { Id: string; ActiveState: string; SubState: string; LoadState: string; JobType?: string }[] };
    const [name, port = '43273'] = this.host.split(':');
    return Containers.map((c) => ({ ...c, Server: `${name}:${port}` }));
  }
}

/** X-PortMapping as geard's client parsed it; a malformed one fails. */
export function parsePortMapping(value: string): { Internal: number; External: number }[] {
  if (value === '') return [];
  return value.split(',').map((pair) => {
    const m = /^([0-9]+):([0-9]+)$/.exec(pair);
    const port = (s: string) => {
      const n = Number(s);
      if (n > 65535) throw new GeardError(`bad port in X-PortMapping: ${pair}`, 0);
      return n;
    };
    if (!m) throw new GeardError(`bad X-PortMapping: ${value}`, 0);
    return { Internal: port(m[1]!), External: port(m[2]!) };
  });
}
