// A progress line per training epoch: images done, loss, images per second, time left.
// On a terminal it is a live bar (cli-progress); in a pipe or a CI log, where a redrawn bar turns
// into thousands of lines, it prints one plain line roughly every 10% instead.

import { SingleBar } from 'cli-progress';

export interface EpochProgressOptions {
  epoch: number;
  epochs: number;
  /** Images in this epoch. */
  total: number;
  /** Where to write (default process.stdout). */
  stream?: NodeJS.WriteStream;
  /** false: say nothing (tests). */
  enabled?: boolean;
  /** Force the plain-line form even on a terminal. */
  plain?: boolean;
  /** Images of this epoch done before this bar started (a resumed run): not counted in img/s. */
  startAt?: number;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

function formatLoss(loss: number | undefined): string {
  return loss === undefined ? '…' : loss.toFixed(4);
}

export class EpochProgress {
  private readonly started = performance.now();
  private stopped: number | undefined;
  private readonly bar: SingleBar | undefined;
  private readonly stream: NodeJS.WriteStream;
  private readonly enabled: boolean;
  private readonly prefix: string;
  private nextPlainAt: number;
  private done = 0;
  private readonly startAt: number;
  private loss: number | undefined;
  // Images and time at the last loss read-back. Steps are recorded faster than the GPU runs
  // them, so only a read-back (which waits for the GPU) tells how fast training really goes.
  private syncedDone = 0;
  private syncedAt = 0;

  constructor(private readonly options: EpochProgressOptions) {
    this.stream = options.stream ?? process.stdout;
    this.enabled = options.enabled ?? true;
    const width = String(options.epochs).length;
    this.prefix = `epoch ${String(options.epoch).padStart(width)}/${options.epochs}`;
    this.startAt = options.startAt ?? 0;
    this.done = this.syncedDone = this.startAt;
    this.nextPlainAt = options.total / 10;
    if (this.enabled && this.stream.isTTY && !options.plain) {
      this.bar = new SingleBar({
        stream: this.stream,
        format: `${this.prefix} {bar} {percentage}% {value}/{total} | loss {loss} | {rate} img/s | ETA {eta}`,
        barsize: 24,
        hideCursor: true,
        clearOnComplete: false,
        fps: 5,
      });
      this.bar.start(options.total, 0, { loss: formatLoss(undefined), rate: '…', eta: '…' });
    }
  }

  /** Seconds since the epoch started (until stop()). */
  get elapsed(): number {
    return ((this.stopped ?? performance.now()) - this.started) / 1000;
  }

  /** Stops the clock (say, before evaluating), so time and images/s cover training only. */
  stop(): void {
    this.stopped ??= performance.now();
  }

  /** Images per second up to the last read-back (or stop()). */
  get imagesPerSecond(): number {
    if (this.stopped !== undefined) return (this.done - this.startAt) / Math.max(this.elapsed, 1e-9);
    return (this.syncedDone - this.startAt) / Math.max(this.syncedAt, 1e-9);
  }

  /**
   * `done` images recorded so far; `loss` when a value was just read back, which also means the
   * GPU has caught up with everything recorded (the rate and ETA are measured at those points).
   */
  update(done: number, loss?: number): void {
    this.done = done;
    if (loss !== undefined) {
      this.loss = loss;
      this.syncedDone = done;
      this.syncedAt = this.elapsed;
    }
    if (!this.enabled) return;
    const rate = this.imagesPerSecond;
    const known = this.syncedDone > this.startAt;
    const eta = known ? formatDuration((this.options.total - done) / Math.max(rate, 1e-9)) : '…';
    if (this.bar) {
      this.bar.update(done, { loss: formatLoss(this.loss), rate: known ? Math.round(rate) : '…', eta });
      return;
    }
    if (loss !== undefined && done >= this.nextPlainAt && done < this.options.total) {
      while (this.nextPlainAt <= done) this.nextPlainAt += this.options.total / 10;
      const pct = Math.floor((100 * done) / this.options.total);
      this.stream.write(
        `${this.prefix} ${String(pct).padStart(3)}% ${done}/${this.options.total} loss ${formatLoss(this.loss)} ${Math.round(rate)} img/s ETA ${eta}\n`,
      );
    }
  }

  /** Ends a live bar where it stands, printing nothing more (training stopped by an error). */
  abandon(): void {
    this.stop();
    if (this.bar?.isActive) {
      this.bar.stop();
      this.stream.write('\n');
    }
  }

  /** Ends the bar (or prints the last plain line), with an optional note such as test accuracy. */
  finish(note = ''): void {
    this.stop();
    if (!this.enabled) return;
    const rate = Math.round(this.imagesPerSecond);
    if (this.bar) {
      this.bar.update(this.done, { loss: formatLoss(this.loss), rate, eta: '0s' });
      this.bar.stop();
    }
    this.stream.write(
      `${this.prefix} done in ${formatDuration(this.elapsed)}: loss ${formatLoss(this.loss)}, ${rate} img/s${note ? `, ${note}` : ''}\n`,
    );
  }
}
