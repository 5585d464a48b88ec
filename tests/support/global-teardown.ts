import { rmSync } from 'node:fs';

export default async function globalTeardown(): Promise<void> {
  const { servers = [], runTmp } = globalThis as { servers?: { stop(): Promise<void> }[]; runTmp?: string };
  for (const server of servers) await server.stop();
  if (runTmp) rmSync(runTmp, { recursive: true, force: true });
}
