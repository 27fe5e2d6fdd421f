// "The broker comes later", without stopping the real broker: a port that nothing listens
// on until `open()`, then relays to RabbitMQ. The port is reserved by listening once and
// closing, so the URI can be handed out before the relay exists.

import net, { type AddressInfo, type Socket } from 'node:net';
import { BROKER } from './vhost.js';

export class LateRelay {
  private server: net.Server | null = null;
  private readonly sockets = new Set<Socket>();
  /** Connections relayed so far. */
  accepted = 0;

  private constructor(readonly port: number) {}

  /** A relay on a free port, not listening yet. */
  static async reserve(): Promise<LateRelay> {
    const probe = net.createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as AddressInfo;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    return new LateRelay(port);
  }

  /** `BROKER`'s credentials and the given vhost, through this relay's port. */
  uri(vhost: string): string {
    const broker = new URL(BROKER);
    return `amqp://${broker.username}:${broker.password}@127.0.0.1:${this.port}/${encodeURIComponent(vhost)}`;
  }

  /** Start listening and relaying to the real broker. */
  async open(): Promise<void> {
    const broker = new URL(BROKER);
    const target = { host: broker.hostname, port: Number(broker.port || 5672) };
    this.server = net.createServer((client) => {
      this.accepted++;
      const upstream = net.connect(target.port, target.host);
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on('error', () => undefined);
        socket.on('close', () => {
          this.sockets.delete(socket);
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve) => this.server!.listen(this.port, '127.0.0.1', resolve));
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    const server = this.server;
    this.server = null;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
