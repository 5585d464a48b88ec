import { constants } from 'node:os';

export type InterruptSignal = 'SIGINT' | 'SIGTERM';

/** The command was stopped by a signal: one line, and the shell's exit code for it (130 for SIGINT, 143 for SIGTERM). */
export class Interrupted extends Error {
  constructor(readonly signal: InterruptSignal, message: string) {
    super(`interrupted: ${message}`);
    this.name = new.target.name;
  }

  get exitCode(): number {
    return 128 + constants.signals[this.signal];
  }
}

/**
 * SIGINT and SIGTERM as values a command can wait on, instead of Node's default of dying on the spot: the
 * command decides what stopping means (cancel its run, stop its servers) and then exits.
 */
export class Interrupts {
  /** The first signal received, if any. */
  received: InterruptSignal | undefined;
  private count = 0;
  private waiters: Array<{ count: number; resolve: (signal: InterruptSignal) => void }> = [];
  private readonly onSignal = (signal: InterruptSignal) => {
    this.received ??= signal;
    this.count += 1;
    const due = this.waiters.filter((w) => w.count <= this.count);
    this.waiters = this.waiters.filter((w) => w.count > this.count);
    for (const w of due) w.resolve(this.received);
  };

  constructor() {
    process.on('SIGINT', this.onSignal);
    process.on('SIGTERM', this.onSignal);
  }

  /** Resolves with the first signal once `count` signals have come (at once if they have already). */
  after(count: number): Promise<InterruptSignal> {
    if (this.received && this.count >= count) return Promise.resolve(this.received);
    return new Promise((resolve) => this.waiters.push({ count, resolve }));
  }

  dispose(): void {
    process.off('SIGINT', this.onSignal);
    process.off('SIGTERM', this.onSignal);
  }
}
