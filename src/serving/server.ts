/** `startServer`: the HTTP API (http/app.ts) on a Node HTTP server via @hono/node-server. */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { createAdaptorServer } from '@hono/node-server';
import { createApp, type AppOptions } from './http/app.js';
import type { ServerMetrics } from './metrics.js';

export interface ServerOptions extends AppOptions {
  /** 0 (default) picks a free port. */
  readonly port?: number;
  /** Default 127.0.0.1. */
  readonly host?: string;
}

export interface RunningServer {
  /** `http://host:port` (no trailing slash); the OpenAI base URL is `${url}/v1`. */
  readonly url: string;
  readonly port: number;
  readonly metrics: ServerMetrics;
  /** Stops accepting connections and closes open ones (the service is the caller's to close). */
  close(): Promise<void>;
}

export async function startServer(opts: ServerOptions): Promise<RunningServer> {
  const { app, metrics } = createApp(opts);
  const host = opts.host ?? '127.0.0.1';
  const server = createAdaptorServer({ fetch: app.fetch, hostname: host }) as Server;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const shown = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shown}:${port}`,
    port,
    metrics,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((e) => (e ? reject(e) : resolve()));
        server.closeAllConnections();
      }),
  };
}
