// How the bench reads time. Two clocks, chosen once per run:
//  - 'gpu-timestamp': where the adapter offers 'timestamp-query', every dispatch gets its own
//    compute pass with a timestamp at its start and end (through dispatch.ts's observer hook).
//    A repetition's time is the sum of its dispatches' durations: kernel time only, no host
//    overhead, no gaps between kernels.
//  - 'wall': performance.now() around recording, submitting and queue.onSubmittedWorkDone(),
//    over a group of repetitions long enough for the clock's resolution; includes the host-side
//    cost of recording and submitting, so it is an upper bound on kernel time.

import { getGpu } from '../src/core/device.ts';
import { flush, setDispatchObserver, sync } from '../src/core/dispatch.ts';

// The timestamp clock itself is src/core/timestamps.ts (the tuner reads time through it too).

export type ClockName = 'gpu-timestamp' | 'wall';

/** Work counted per dispatch, without timing it. */
export interface DispatchCount {
  name: string;
  flops: number;
  bytes: number;
}


/** Counts the programs `record` dispatches (their names, flops and bytes), running them once. */
export async function countDispatches(record: () => void): Promise<DispatchCount[]> {
  const seen: DispatchCount[] = [];
  setDispatchObserver({
    beforeDispatch(program) {
      seen.push({ name: program.name, flops: program.flops ?? 0, bytes: program.bytes ?? 0 });
      return undefined;
    },
  });
  try {
    record();
    flush();
  } finally {
    setDispatchObserver(undefined);
  }
  await sync();
  return seen;
}

/** Wall-clock milliseconds per repetition of `record`, over `group` repetitions at once. */
export async function wallTime(record: () => void, group: number): Promise<number> {
  const { device } = getGpu();
  await sync();
  const t0 = performance.now();
  for (let r = 0; r < group; r++) record();
  flush();
  await device.queue.onSubmittedWorkDone();
  const ms = (performance.now() - t0) / group;
  await sync(); // surfaces kernel errors, after the clock stopped
  return ms;
}
