/** Stable loopback ports of a served stack: one base port (SOVEREIGN_AGENT_PORT_BASE) plus a fixed offset per service. */
import { createServer } from 'node:net';
import { LocalStackError } from './teardown';

/**
 * Each service's offset from the base port. Stable ports keep the `export` lines of `serve` true across restarts;
 * a new service takes the next free offset (never reuse one: a developer's shell may still hold the old variables).
 */
export const SERVICE_PORT_OFFSETS = {
  dynamodb: 0,
  bedrock: 1,
  lambda: 2,
  stepFunctions: 3,
  eventBridge: 4,
  cloudFormation: 5,
  dynamodbCountingProxy: 6,
  sqs: 7,
  sns: 8,
  sagemaker: 9,
  /** UDP (the X-Ray daemon's protocol), not TCP. */
  xray: 10,
} as const;

export type PortedService = keyof typeof SERVICE_PORT_OFFSETS;
export type ServicePorts = Record<PortedService, number>;

export const PORT_BASE_VARIABLE = 'SOVEREIGN_AGENT_PORT_BASE';
export const DEFAULT_PORT_BASE = 4710;

const MAX_OFFSET = Math.max(...Object.values(SERVICE_PORT_OFFSETS));

/**
 * The base port `serve` uses: SOVEREIGN_AGENT_PORT_BASE, else 4710. `0` means random free ports (tests, or several
 * stacks at once); anything else that is not a port with room for every service is an error naming the variable.
 */
export const portBaseFromEnv = (env: NodeJS.ProcessEnv = process.env): number | undefined => {
  const raw = env[PORT_BASE_VARIABLE];
  if (raw === undefined || raw.trim() === '') return DEFAULT_PORT_BASE;
  const base = Number(raw);
  if (base === 0) return undefined;
  if (!Number.isInteger(base) || base < 1024 || base + MAX_OFFSET > 65_535) {
    throw new LocalStackError(
      `${PORT_BASE_VARIABLE}=${raw} is not a usable base port: give 1024-${65_535 - MAX_OFFSET} (or 0 for random ports)`,
    );
  }
  return base;
};

export const servicePorts = (base: number): ServicePorts =>
  Object.fromEntries(
    Object.entries(SERVICE_PORT_OFFSETS).map(([service, offset]) => [service, base + offset]),
  ) as ServicePorts;

const portFree = (port: number): Promise<boolean> =>
  new Promise((answer) => {
    const server = createServer();
    server.once('error', () => answer(false));
    server.listen(port, '127.0.0.1', () => server.close(() => answer(true)));
  });

/** Fails before anything starts, naming each taken port and its service, so a half-started stack never results. */
export const assertPortsFree = async (ports: Partial<ServicePorts>): Promise<void> => {
  const entries = Object.entries(ports);
  const free = await Promise.all(entries.map(([, port]) => portFree(port)));
  const taken = entries.filter((_, i) => free[i] === false).map(([service, port]) => `${port} (${service})`);
  if (taken.length > 0) {
    throw new LocalStackError(
      `Port${taken.length === 1 ? '' : 's'} ${taken.join(', ')} already in use on 127.0.0.1: stop what holds ` +
        `${taken.length === 1 ? 'it' : 'them'} (another \`sovereign-agent serve\`?) or set ${PORT_BASE_VARIABLE} ` +
        'to another base port (0 for random ports)',
    );
  }
};
