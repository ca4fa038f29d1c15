/** Temporal's Runtime as the worker installs it: the SDK's metrics on a Prometheus endpoint, or the host's Runtime left alone. */
import { freePort } from '../../../src/dev/servers';

it("serves Temporal's SDK metrics at the address asked for, and leaves a Runtime that exists as it is", async () => {
  // test/setup.ts installs a Runtime in every test file, as a host would: load a fresh SDK to install ours.
  let fresh!: { worker: typeof import('@temporalio/worker'); logger: typeof import('../../../src/logger') };
  jest.isolateModules(() => {
    fresh = { worker: require('@temporalio/worker'), logger: require('../../../src/logger') };
  });
  const { createLogger, installRuntime, runtimeInstalled, sdkMetricsAddress } = fresh.logger;
  const logger = createLogger({ level: 'warn', format: 'json' }, { write: () => undefined });
  expect(runtimeInstalled()).toBe(false);
  const port = await freePort();
  expect(installRuntime(logger, { prometheusBindAddress: `127.0.0.1:${port}` })).toBe(true);
  expect(sdkMetricsAddress()).toBe(`127.0.0.1:${port}`);
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  expect(res.status).toBe(200);
  await res.text();
  const runtime = fresh.worker.Runtime.instance();
  // A second install (a host that installed its own, or a second worker in the process) changes nothing and does not throw.
  expect(installRuntime(logger, { prometheusBindAddress: `127.0.0.1:${await freePort()}` })).toBe(false);
  expect(fresh.worker.Runtime.instance()).toBe(runtime);
});

it("a taken port costs the SDK's metrics, not the worker: the Runtime installs without them and says so", async () => {
  let logger!: typeof import('../../../src/logger');
  jest.isolateModules(() => {
    logger = require('../../../src/logger');
  });
  const net = await import('node:net');
  const taken = net.createServer();
  await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
  const port = (taken.address() as import('node:net').AddressInfo).port;
  const lines: string[] = [];
  const log = logger.createLogger({ level: 'warn', format: 'json' }, { write: (line: string) => void lines.push(line) });
  try {
    expect(logger.installRuntime(log, { prometheusBindAddress: `127.0.0.1:${port}` })).toBe(true);
    expect(logger.runtimeInstalled()).toBe(true);
    expect(logger.sdkMetricsAddress()).toBeUndefined();
    expect(lines.map((l) => JSON.parse(l).msg)).toEqual([
      "Temporal's SDK metrics not served (set MLOPS_TEMPORAL_METRICS_PORT to a free port, or 0 to turn them off)",
    ]);
  } finally {
    taken.close();
  }
});
