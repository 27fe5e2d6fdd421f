// amqps:// with the CA, client certificate, key and passphrase from AMQP_SSL. The system
// broker has no TLS listener, so a TLS-terminating proxy on loopback stands in front of
// it: it presents a certificate signed by a test CA and requires a client certificate
// from the same CA. Certificates are made with openssl per run.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClusterRpcProxy, loadConfig, ServiceRunner, showConfig } from 'enoki';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { amqpSocketOptions } from '../src/transport/amqp-transport.js';
import { FaultService } from './faults/fixtures/fault-service.js';
import { LogTap } from './faults/harness.js';
import { TcpProxy } from './faults/tcp-proxy.js';
import { BROKER, createVhost, type TestVhost } from './support/vhost.js';

const PASSPHRASE = 'client-key-passphrase';
let dir: string;
let vhost: TestVhost;
let proxy: TcpProxy;
const file = (name: string): string => join(dir, name);

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
}

function makeCertificates(): void {
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', '/CN=enoki test CA');
  writeFileSync(file('server.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost');
  openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '1', '-extfile', 'server.ext');
  openssl('req', '-newkey', 'rsa:2048', '-keyout', 'client.key', '-passout', `pass:${PASSPHRASE}`, '-out', 'client.csr', '-subj', '/CN=enoki client');
  openssl('x509', '-req', '-in', 'client.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'client.crt', '-days', '1');
}

function tlsUri(scheme = 'amqps'): string {
  const broker = new URL(BROKER);
  return `${scheme}://${broker.username}:${broker.password}@localhost:${proxy.port}/${encodeURIComponent(vhost.name)}`;
}

const fullTls = (): Record<string, unknown> => ({ ca: file('ca.crt'), cert: file('client.crt'), key: file('client.key'), passphrase: PASSPHRASE });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'enoki-tls-'));
  makeCertificates();
  vhost = createVhost('tls');
  proxy = await TcpProxy.start(
    { host: '127.0.0.1', port: Number(new URL(BROKER).port || 5672) },
    { key: readFileSync(file('server.key')), cert: readFileSync(file('server.crt')), ca: readFileSync(file('ca.crt')), requestCert: true, rejectUnauthorized: true },
  );
});

afterAll(async () => {
  await proxy?.close();
  vhost?.remove();
  rmSync(dir, { recursive: true, force: true });
});

describe('amqps://', () => {
  it('passes the CA, certificate, key and passphrase from AMQP_SSL to the socket', () => {
    const config = loadConfig({ AMQP_URI: tlsUri(), AMQP_SSL: { ca_certs: file('ca.crt'), certfile: file('client.crt'), keyfile: file('client.key'), passphrase: PASSPHRASE, cert_reqs: 2 } });
    const options = amqpSocketOptions('enoki test', config.AMQP_SSL);
    expect(options.ca).toEqual([readFileSync(file('ca.crt'))]);
    expect(options.cert).toEqual(readFileSync(file('client.crt')));
    expect(options.key).toEqual(readFileSync(file('client.key')));
    expect(options.passphrase).toBe(PASSPHRASE);
    expect(options.rejectUnauthorized).toBe(true);
    expect(showConfig(config)).not.toContain(PASSPHRASE);
  });

  it('serves and calls over TLS with a client certificate', async () => {
    const config = loadConfig({ AMQP_URI: tlsUri(), AMQP_SSL: fullTls(), LOGGING: { level: 'silent' } });
    const runner = new ServiceRunner(config);
    runner.add(FaultService);
    await runner.start();
    const client = await ClusterRpcProxy.connect(config);
    try {
      const before = proxy.accepted;
      await expect(client.fault_service.echo(5)).resolves.toMatchObject({ i: 5 });
      expect(before).toBeGreaterThanOrEqual(2); // both connections came through the TLS proxy
    } finally {
      await client.close();
      await runner.stop();
    }
  });

  it('uses TLS for an amqp:// URI when AMQP_SSL is set, as nameko does', async () => {
    const config = loadConfig({ AMQP_URI: tlsUri('amqp'), AMQP_SSL: fullTls(), LOGGING: { level: 'silent' } });
    const client = await ClusterRpcProxy.connect(config);
    await client.close();
  });

  it('refuses a server certificate it cannot verify (no CA given)', async () => {
    const tap = new LogTap('debug');
    const config = loadConfig({ AMQP_URI: tlsUri(), AMQP_SSL: { cert: file('client.crt'), key: file('client.key'), passphrase: PASSPHRASE }, LOGGING: { level: 'silent' } });
    const err = (await ClusterRpcProxy.connect(config, { logger: tap.logger }).catch((e: unknown) => e)) as Error & { code?: string };
    expect(err.code).toBe('ENOKI_ERR_BROKER_TLS');
    expect(err.message).toMatch(/certificate/i);
    expect(err.message).toMatch(/AMQP_SSL\.ca/);
  });

  it('is refused by a server that requires a client certificate when none is given', async () => {
    const tap = new LogTap('debug');
    const config = loadConfig({ AMQP_URI: tlsUri(), AMQP_SSL: { ca: file('ca.crt') }, LOGGING: { level: 'silent' } });
    const err = (await ClusterRpcProxy.connect(config, { logger: tap.logger }).catch((e: unknown) => e)) as Error & { code?: string };
    expect(err.code).toBe('ENOKI_ERR_BROKER_TLS');
    expect(err.message).toMatch(/client certificate/);
    expect(err.message).toMatch(/AMQP_SSL\.cert/);
  });
});
