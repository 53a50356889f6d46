// The console's only way to the agent: its public API, on the page's own
// origin, with the token as a Bearer header (never in a URL, never stored
// beyond this browser tab's sessionStorage).

const TOKEN_KEY = 'gear.token';

export const token = {
  get: (): string | null => sessionStorage.getItem(TOKEN_KEY),
  set: (t: string) => sessionStorage.setItem(TOKEN_KEY, t),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

/** An answer the agent refused: its status and its message ({"Message": ...}). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Called when the agent answers 401: the token is wrong or gone. */
let unauthorized: () => void = () => undefined;
export const onUnauthorized = (f: () => void) => void (unauthorized = f);

function headers(accept: string, given = token.get()): Headers {
  const h = new Headers({ accept });
  if (given) h.set('authorization', `Bearer ${given}`);
  return h;
}

/** The error of a refused answer; a 401 of the kept token (not of one being tried at the login) logs out. */
async function failure(res: Response, trying = false): Promise<ApiError> {
  let message = `${res.status} ${res.statusText}`;
  try {
    const body = (await res.json()) as { Message?: string };
    if (body.Message) message = body.Message;
  } catch {
    // not JSON
  }
  if (res.status === 401 && !trying) unauthorized();
  return new ApiError(res.status, message);
}

/**
 * fetch, tried again when the network failed under it (a TypeError: no
 * answer at all, such as Chromium's ERR_NETWORK_CHANGED when the machine's
 * interfaces change). A change carries an X-Request-Id, the same on every
 * try: the agent runs it once and answers a repeat with the first answer.
 */
async function send(path: string, init: RequestInit): Promise<Response> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fetch(path, init);
    } catch (err) {
      if (!(err instanceof TypeError) || attempt >= 4 || init.signal?.aborted) throw err;
      await new Promise((r) => setTimeout(r, 250 * attempt));
    }
  }
}

const requestId = () => Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');

/** A JSON request; `given` tries a token before it is kept (the login). */
export async function json<T>(method: string, path: string, given?: string): Promise<T> {
  const h = headers('application/json', given);
  if (method !== 'GET') h.set('x-request-id', requestId());
  const res = await send(path, { method, headers: h, cache: 'no-store' });
  if (!res.ok) throw await failure(res, given !== undefined);
  const text = await res.text();
  return (text ? JSON.parse(text) : undefined) as T;
}

/** A text answer (the unit file, a log read at once). */
export async function text(path: string): Promise<string> {
  const res = await send(path, { headers: headers('text/plain'), cache: 'no-store' });
  if (!res.ok) throw await failure(res);
  return res.text();
}

/**
 * A streamed text answer, line by line, until it ends or `signal` aborts.
 * fetch, not EventSource: EventSource cannot send an Authorization header.
 */
export async function lines(path: string, accept: string, signal: AbortSignal, each: (line: string) => void): Promise<void> {
  const res = await send(path, { headers: headers(accept), cache: 'no-store', signal });
  if (!res.ok || !res.body) throw await failure(res);
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

/** Server-sent events of GET /events, parsed from the stream: each event's name and JSON data. */
export async function events(signal: AbortSignal, each: (event: string, data: unknown) => void): Promise<void> {
  let event = 'message';
  let data: string[] = [];
  await lines('/events', 'text/event-stream', signal, (line) => {
    if (line === '') {
      if (data.length) each(event, JSON.parse(data.join('\n')));
      event = 'message';
      data = [];
    } else if (line.startsWith('event:')) event = line.slice(6).trim();
    else if (line.startsWith('data:')) data.push(line.slice(5).trimStart());
    // ":" lines are keepalives
  });
}
