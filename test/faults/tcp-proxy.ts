// A TCP proxy on loopback between a client and RabbitMQ, to take one client off the
// network without touching the broker: `cut()` resets its connections and refuses new
// ones (a crashed link), `blackhole()` keeps the sockets but drops every byte (a silent
// partition, noticed only by heartbeats), `restore()` lets traffic through again.

import net, { type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';

export type ProxyMode = 'open' | 'refuse' | 'blackhole';

export class TcpProxy {
  private mode: ProxyMode = 'open';
  private readonly pairs = new Set<[Socket, Socket]>();
  /** Connections accepted so far (a reconnect adds one). */
  accepted = 0;

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
  ) {}

  /** Plain TCP, or TLS-terminating when `tlsOptions` is given (amqps:// in front of amqp://). */
  static async start(target = { host: '127.0.0.1', port: 5672 }, tlsOptions?: tls.TlsOptions): Promise<TcpProxy> {
    let proxy: TcpProxy | undefined;
    const onSocket = (client: Socket): void => proxy!.accept(client, target);
    const server = tlsOptions ? tls.createServer(tlsOptions, onSocket) : net.createServer(onSocket);
    // A failed TLS handshake is the client's problem to report, not the proxy's.
    server.on('tlsClientError', () => undefined);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    proxy = new TcpProxy(server, (server.address() as AddressInfo).port);
    return proxy;
  }

  private accept(client: Socket, target: { host: string; port: number }): void {
    client.on('error', () => undefined);
    if (this.mode === 'refuse') {
      client.destroy();
      return;
    }
    this.accepted++;
    const upstream = net.connect(target.port, target.host);
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
    const pair: [Socket, Socket] = [client, upstream];
    this.pairs.add(pair);
    const forget = (): void => {
      this.pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', forget);
    upstream.on('close', forget);
    client.on('data', (d: Buffer) => {
      if (this.mode !== 'blackhole') upstream.write(d);
    });
    upstream.on('data', (d: Buffer) => {
      if (this.mode !== 'blackhole') client.write(d);
    });
  }

  /** Reset every connection and refuse new ones until restore(). */
  cut(): void {
    this.mode = 'refuse';
    for (const [client, upstream] of [...this.pairs]) {
      client.resetAndDestroy();
      upstream.destroy();
    }
  }

  /** Keep the connections, drop every byte both ways, refuse nothing. */
  blackhole(): void {
    this.mode = 'blackhole';
  }

  restore(): void {
    this.mode = 'open';
  }

  get connections(): number {
    return this.pairs.size;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
