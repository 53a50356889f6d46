// The console's only way to an agent: its public API, with the token as a
// Bearer header (never in a URL, never stored beyond this browser tab's
// sessionStorage). `own` is the agent that served the page (same origin);
// peers (gear daemon --console-peer) are called on their own origin, which
// they allow for this page's origin (CORS).

/** An answer the agent refused: its status and its message ({"Message": ...}). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * fetch, tried again when the network failed under it (a TypeError: no
 * answer at all, such as Chromium's ERR_NETWORK_CHANGED when the machine's
 * interfaces change). A change carries an X-Request-Id, the same on every
 * try: the agent runs it once and answers a repeat with the first answer.
 */
async function send(url: string, init: RequestInit): Promise<Response> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fetch(url, init);
    } catch (err) {
      if (!(err instanceof TypeError) || attempt >= 4 || init.signal?.aborted) throw err;
      await new Promise((r) => setTimeout(r, 250 * attempt));
    }
  }
}

const requestId = () => Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');

export class Agent {
  /** Called when the agent answers 401 to the kept token: it is wrong or gone. */
  onUnauthorized: () => void = () => undefined;

  /** base: "" for the page's own agent, else the peer's origin. */
  constructor(
    readonly base: string,
    readonly label: string,
  ) {}

  private get key(): string {
    return this.base ? `gear.token ${this.base}` : 'gear.token';
  }
  get token(): string | null {
    return sessionStorage.getItem(this.key);
  }
  set token(t: string | null) {
    if (t === null) sessionStorage.removeItem(this.key);
    else sessionStorage.setItem(this.key, t);
  }

  private headers(accept: string, given = this.token): Headers {
    const h = new Headers({ accept });
    if (given) h.set('authorization', `Bearer ${given}`);
    return h;
  }

  /** The error of a refused answer; a 401 of the kept token (not of one being tried) calls onUnauthorized. */
  private async failure(res: Response, trying = false): Promise<ApiError> {
    let message = `${res.status} ${res.statusText}`;
    try {
      const body = (await res.json()) as { Message?: string };
      if (body.Message) message = body.Message;
    } catch {
      // not JSON
    }
    if (res.status === 401 && !trying) this.onUnauthorized();
    return new ApiError(res.status, message);
  }

  /** A JSON request; `given` tries a token before it is kept (a login). */
  async json<T>(method: string, path: string, given?: string): Promise<T> {
    const h = this.headers('application/json', given);
    if (method !== 'GET') h.set('x-request-id', requestId());
    const res = await send(this.base + path, { method, headers: h, cache: 'no-store' });
    if (!res.ok) throw await this.failure(res, given !== undefined);
    const text = await res.text();
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /** A text answer (the unit file). */
  async text(path: string): Promise<string> {
    const res = await send(this.base + path, { headers: this.headers('text/plain'), cache: 'no-store' });
    if (!res.ok) throw await this.failure(res);
    return res.text();
  }

  /**
   * A streamed text answer, line by line, until it ends or `signal` aborts.
   * fetch, not EventSource: EventSource cannot send an Authorization header.
   */
  async lines(path: string, accept: string, signal: AbortSignal, each: (line: string) => void): Promise<void> {
    const res = await send(this.base + path, { headers: this.headers(accept), cache: 'no-store', signal });
    if (!res.ok || !res.body) throw await this.failure(res);
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let rest = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      rest += value;
      let nl: number;
      while ((nl = rest.indexOf('\n')) >= 0) {
        each(rest.slice(0, nl));
        rest = rest.slice(nl + 1);
      }
    }
    if (rest) each(rest);
  }

  /**
   * Server-sent events of a path, parsed from the stream: each complete
   * event's name, data and the last id seen (an id alone, with no data,
   * is no event: `onId` hears it). Only a blank line ends an event: one
   * cut short by the stream's end is dropped, its id not taken.
   */
  async sse(path: string, signal: AbortSignal, each: (event: string, data: string, id: string | undefined) => void, onId?: (id: string) => void): Promise<void> {
    let event = 'message';
    let data: string[] = [];
    let id: string | undefined;
    let pendingId: string | undefined;
    await this.lines(path, 'text/event-stream', signal, (raw) => {
      const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
      if (line === '') {
        if (pendingId !== undefined) id = pendingId;
        if (data.length) each(event, data.join('\n'), id);
        else if (pendingId !== undefined) onId?.(pendingId);
        event = 'message';
        data = [];
        pendingId = undefined;
        return;
      }
      const colon = line.indexOf(':');
      if (colon === 0) return; // a comment: keepalive
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
      else if (field === 'id') pendingId = value;
    });
  }

  /** GET /events: each event's name and JSON data. */
  async events(signal: AbortSignal, each: (event: string, data: unknown) => void): Promise<void> {
    await this.sse('/events', signal, (event, data) => each(event, JSON.parse(data)));
  }
}

/** The agent that served the page. */
export const own = new Agent('', 'this agent');
