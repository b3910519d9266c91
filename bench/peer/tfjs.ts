// TensorFlow.js's WebGPU backend as the bench's peer (--peer tfjs), on the same Dawn adapter.
//
// Getting it to run in Node:
//  - tfjs-backend-webgpu asks `navigator.gpu` for an adapter: we give it one from the `webgpu`
//    package (its own Dawn instance, the same adapter ours opens), plus Dawn's GPU* globals.
//  - tfjs-core's Node build ships no gradients (`tf.grad` then fails: "gradient function not
//    found for Conv2D"), and its ES-module build, which registers them, uses extension-less and
//    directory imports that Node's ESM loader refuses. So the first run bundles tfjs-core's ES
//    modules, register_all_gradients and the WebGPU backend into one CommonJS file with esbuild
//    (a dependency of tsx), cached under node_modules/.cache/bench-tfjs/.
// Nothing in src/ imports this: TensorFlow.js is a dev dependency, for comparison only.
//
// Timing methodology, the same for both sides (see harness.ts): record N repetitions, submit,
// await the queue's onSubmittedWorkDone(), wall clock around all of it. What is run: the kernel
// cases' ops (op-table.ts) and the seed models' training steps (vae-step.ts, gan-step.ts).

import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { create, globals } from 'webgpu';
import type * as TfCore from '@tensorflow/tfjs-core';
import type { PeerInstance, PeerRunner } from '../harness.ts';
import type { PeerOp, PeerTrainStep } from '../peer-ops.ts';
import { makeOp } from './op-table.ts';
import { vaeTrainStep } from './vae-step.ts';
import { ganTrainStep } from './gan-step.ts';

type Tf = typeof TfCore;

/** The parts of tfjs's WebGPU backend the timing needs. */
interface WebGpuBackend {
  device: GPUDevice;
  ensureCommandEncoderReady(): void;
  endComputePassEncoder(): void;
  submitQueue(): void;
}

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const require = createRequire(import.meta.url);

function packageVersion(name: string): string {
  const file = require.resolve(`${name}/package.json`, { paths: [root] });
  return (JSON.parse(fs.readFileSync(file, 'utf8')) as { version: string }).version;
}

async function bundle(): Promise<string> {
  const core = packageVersion('@tensorflow/tfjs-core');
  const backend = packageVersion('@tensorflow/tfjs-backend-webgpu');
  const out = path.join(root, 'node_modules', '.cache', 'bench-tfjs', `tfjs-webgpu-${core}-${backend}.cjs`);
  if (fs.existsSync(out)) return out;
  const { build } = await import('esbuild');
  await build({
    stdin: {
      contents: [
        "export * from '@tensorflow/tfjs-core';",
        "import '@tensorflow/tfjs-core/dist/register_all_gradients';",
        "import '@tensorflow/tfjs-backend-webgpu';",
      ].join('\n'),
      resolveDir: root,
      loader: 'js',
    },
    bundle: true,
    format: 'cjs',
    platform: 'node',
    mainFields: ['module', 'main'],
    outfile: out,
    logLevel: 'error',
  });
  return out;
}

export interface TfjsPeer extends PeerRunner {
  /** Which version, on what. */
  description: string;
  tf: Tf;
  close(): void;
}

/** Loads TensorFlow.js with its WebGPU backend; throws with the reason when it cannot. */
export async function loadTfjsPeer(): Promise<TfjsPeer> {
  let version: string;
  try {
    version = packageVersion('@tensorflow/tfjs-backend-webgpu');
  } catch {
    throw new Error('--peer tfjs needs @tensorflow/tfjs-core and @tensorflow/tfjs-backend-webgpu (npm install, dev dependencies)');
  }
  Object.assign(globalThis, globals);
  // Node 20 has no navigator; later versions have one without `gpu`. Dawn keeps the process
  // alive while this instance is referenced, so close() takes it away again.
  const previous = Object.getOwnPropertyDescriptor(globalThis, 'navigator');
  const gpu = create([]);
  Object.defineProperty(globalThis, 'navigator', { value: { gpu, userAgent: 'node' }, configurable: true, writable: true });
  const tf = require(await bundle()) as Tf;
  tf.enableProdMode();
  if (!(await tf.setBackend('webgpu'))) throw new Error('tfjs could not start its WebGPU backend on this adapter');
  await tf.ready();
  const backend = tf.backend() as unknown as WebGpuBackend;

  // What tfjs itself does before reading a buffer back: close the open pass, submit.
  const finish = async () => {
    backend.ensureCommandEncoderReady();
    backend.endComputePassEncoder();
    backend.submitQueue();
    await backend.device.queue.onSubmittedWorkDone();
  };

  return {
    name: 'tfjs',
    description: `tfjs ${version}, WebGPU backend, its own device on the same Dawn adapter`,
    tf,
    async prepare(op: PeerOp): Promise<PeerInstance | undefined> {
      const made = makeOp(tf, op);
      if (!made) return undefined;
      const { fn, inputs } = made;
      return {
        record() {
          const out = tf.tidy(fn);
          tf.dispose(out);
        },
        finish,
        dispose() {
          tf.dispose(inputs);
        },
      };
    },
    async prepareTrainStep(step: PeerTrainStep): Promise<PeerInstance | undefined> {
      const training = step.model === 'vae' ? await vaeTrainStep(tf, step) : await ganTrainStep(tf, step);
      try {
        await training.check();
      } catch (e) {
        training.dispose();
        throw e;
      }
      return { record: training.step, finish, dispose: training.dispose };
    },
    close() {
      tf.disposeVariables();
      tf.engine().reset();
      backend.device.destroy();
      if (previous) Object.defineProperty(globalThis, 'navigator', previous);
      else delete (globalThis as { navigator?: unknown }).navigator;
    },
  };
}
