import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { isImageUpload } from '../api/images.js';

/**
 * An image upload (POST /images/load) may take longer than
 * --request-timeout, which Node applies to a whole request: it is held to
 * the same time without a byte instead (idle), so a slow link works and a
 * stalled one is still cut. Every other request keeps the whole-request limit.
 */
export class UploadTimeouts {
  private readonly uploading = new WeakSet<Duplex>();

  constructor(private readonly idleMs: number) {}

  /** Called for every request before routing. */
  track(req: IncomingMessage): void {
    if (!isImageUpload(req.method, req.url)) return;
    const socket = req.socket;
    this.uploading.add(socket);
    const idle = () => socket.destroy();
    socket.setTimeout(this.idleMs);
    socket.on('timeout', idle);
    const done = () => {
      this.uploading.delete(socket);
      socket.setTimeout(0);
      socket.off('timeout', idle);
    };
    req.once('end', done);
    req.once('close', done);
  }

  /**
   * The servers' 'clientError': the whole-request timeout of an upload is
   * ignored (its idle timeout stands); everything else is answered as Node
   * does without a listener (a status line when nothing was sent yet, then
   * the connection closed).
   */
  readonly clientError = (err: NodeJS.ErrnoException, socket: Duplex): void => {
    if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT' && this.uploading.has(socket)) return;
    const s = socket as Duplex & { _httpMessage?: { headersSent?: boolean } };
    if (socket.writable && !s._httpMessage?.headersSent) socket.write(RESPONSES[err.code ?? ''] ?? RESPONSES.default);
    socket.destroy(err);
  };
}

const status = (line: string) => `HTTP/1.1 ${line}\r\nConnection: close\r\n\r\n`;
const RESPONSES: Record<string, string> = {
  HPE_HEADER_OVERFLOW: status('431 Request Header Fields Too Large'),
  HPE_CHUNK_EXTENSIONS_OVERFLOW: status('413 Payload Too Large'),
  ERR_HTTP_REQUEST_TIMEOUT: status('408 Request Timeout'),
  default: status('400 Bad Request'),
};
