export default async function globalTeardown(): Promise<void> {
  for (const server of (globalThis as { servers?: { stop(): Promise<void> }[] }).servers ?? []) await server.stop();
}
