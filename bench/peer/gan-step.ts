// The seed's DCGAN and conditional-GAN training steps (src/models/gan.ts) in TensorFlow.js, read
// from an instance of our Gan: its generator's and discriminator's layers (bench/peer/layers.ts),
// initial weights, Adam settings, noise size and number of digits.

import type * as TfCore from '@tensorflow/tfjs-core';
import { createModel } from '../../src/models/kinds.ts';
import type { Gan } from '../../src/models/gan.ts';
import type { Module } from '../../src/nn/module.ts';
import type { PeerTrainStep } from '../peer-ops.ts';
import { uniformData } from '../case-kit.ts';
import { assertCovers, readModel } from './layers.ts';
import { adamLike, bceWithLogits, fixedImages, lossesOfSteps, type PeerTraining } from './training.ts';

type Tf = typeof TfCore;
type T = TfCore.Tensor;

/**
 * Our generator's and discriminator's layers in the order Generator.forward and
 * Discriminator.forward apply them (checked to leave none out).
 */
export function ganLayers(gan: Gan): { generator: Module[]; discriminator: Module[] } {
  const g = gan.generator;
  const d = gan.discriminator;
  const generator = [g.dense, g.bn0, g.act, g.reshape, g.deconv1, g.bn1, g.act, g.deconv2, g.bn2, g.act, g.deconv3];
  const discriminator = [d.conv1, d.drop1, d.conv2, d.drop2, d.flatten, d.dense];
  assertCovers(g, generator);
  assertCovers(d, discriminator);
  return { generator, discriminator };
}

/**
 * Our Gan's step (Gan.dcganStep or Gan.conditionalStep) on its two networks as ganLayers lists
 * them (see layers.ts for each layer's tfjs ops; BatchNorm and Dropout in training mode, as our
 * step runs them). Losses are BCE on logits, the mean over the batch; each network has its own
 * tf.train.adam with our optimizer's settings. Real images are fixed random pixels in the step's
 * range (with digits i mod numClasses for the cGAN); noise is drawn anew every step, and so are
 * the cGAN's phase-2 digits.
 */
export async function ganTrainStep(tf: Tf, s: Extract<PeerTrainStep, { model: 'gan' | 'cgan' }>): Promise<PeerTraining> {
  const { batch } = s;
  // The check (below) draws the same noise, dropout masks and digits every step, from fixed
  // seeds; timed steps draw fresh ones. Same ops either way: only the seed argument differs.
  let fixedSeeds: number | undefined;
  let seedsDrawn = 0;
  const nextSeed = () => (fixedSeeds === undefined ? undefined : fixedSeeds + seedsDrawn++);

  const { parts, variables } = await readModel(tf, createModel(s.model, s.config), async (gan, network) => {
    if (gan.config.matchingAware) throw new Error('the tfjs peer has no matching-aware cGAN step');
    const layers = ganLayers(gan);
    return {
      generator: await network(layers.generator),
      discriminator: await network(layers.discriminator, nextSeed),
      inFeatures: gan.generator.dense.inFeatures,
      conditional: gan.config.conditional,
      noiseDim: gan.config.noiseDim,
      numClasses: gan.config.numClasses,
      gOptimizer: adamLike(tf, gan.gOptimizer, 'generator'),
      dOptimizer: adamLike(tf, gan.dOptimizer, 'discriminator'),
    };
  });
  const { conditional, noiseDim, numClasses, gOptimizer, dOptimizer } = parts;
  const gVars = parts.generator.trainable;
  const dVars = parts.discriminator.trainable;
  const generator = (input: T) => parts.generator.forward(input);
  const discriminator = (images: T) => parts.discriminator.forward(images);
  // The real images are what the generator makes: [batch, 28, 28, 1].
  const imageShape = parts.generator.outputShape([batch, parts.inFeatures]);
  const x = fixedImages(tf, imageShape, 800, s.pixelRange);
  const y = tf.tensor1d(Int32Array.from({ length: batch }, (_, i) => i % numClasses), 'int32');
  const bce = (logits: T, target: 0 | 1) => bceWithLogits(tf, logits, target);

  const noise = () => tf.randomNormal([batch, noiseDim], 0, 1, 'float32', nextSeed());
  // The cGAN's inputs: noise ⊕ one-hot digit; the image ⊕ numClasses planes holding the one-hot digit.
  const oneHot = (digits: T) => tf.oneHot(digits as TfCore.Tensor1D, numClasses, 1, 0, 'float32');
  const generatorInput = (z: T, digits: T) => tf.concat([z, oneHot(digits)], 1);
  const discriminatorInput = (images: T, digits: T) =>
    tf.concat([images, tf.broadcastTo(tf.reshape(oneHot(digits), [batch, 1, 1, numClasses]), [batch, imageShape[1], imageShape[2], numClasses])], 3);
  let digitSeed = 900;
  /** Random digits drawn on the host, as ours draws them (a few bytes). */
  const randomDigits = () =>
    tf.tensor1d(Int32Array.from(uniformData(batch, nextSeed() ?? digitSeed++, 0, numClasses), (v) => Math.min(numClasses - 1, Math.floor(v))), 'int32');

  /** The DCGAN's losses from one forward pass: G once (on fresh noise), D on fake and on real. */
  const dcganLosses = (): { dLoss: TfCore.Scalar; gLoss: TfCore.Scalar } => {
    const fakeLogits = discriminator(generator(noise()));
    const gLoss = bce(fakeLogits, 1);
    const dLoss = tf.add(bce(fakeLogits, 0), bce(discriminator(x), 1)) as TfCore.Scalar;
    return { dLoss, gLoss };
  };

  /**
   * The tutorial's step: one forward pass, then each network's gradients of its own loss.
   * TensorFlow keeps two tapes over that pass; a tfjs tape lives for one tf.variableGrads call,
   * so D's gradients are taken inside the call that takes G's: D's backward pass runs on the
   * shared forward, and G's backward pass (from the G loss, pruned to the paths from G's
   * variables) skips D's weight gradients and the ops D's backward pass added to the tape.
   */
  const dcganStep = (): T[] => {
    let dLoss: TfCore.Scalar | undefined;
    let gLoss: TfCore.Scalar | undefined;
    let dGrads: TfCore.NamedTensorMap = {};
    const g = tf.variableGrads(() => {
      const d = tf.variableGrads(() => {
        const losses = dcganLosses();
        gLoss = tf.keep(losses.gLoss);
        return losses.dLoss;
      }, dVars);
      dLoss = tf.keep(d.value);
      dGrads = d.grads;
      for (const grad of Object.values(dGrads)) tf.keep(grad);
      return gLoss!;
    }, gVars);
    const named = (grads: TfCore.NamedTensorMap) => Object.entries(grads).map(([name, tensor]) => ({ name, tensor }));
    dOptimizer.applyGradients(named(dGrads));
    gOptimizer.applyGradients(named(g.grads));
    tf.dispose([...Object.values(dGrads), ...Object.values(g.grads)]);
    return [dLoss!, g.value];
  };

  // The cGAN's two phases. Phase 1: D's loss on the real images and on G's images, with their
  // digits (G runs outside any tape: no gradients through it; its BatchNorm in training mode).
  const phase1Fake = () => generator(generatorInput(noise(), y));
  const phase1Loss = (fake: T) =>
    tf.add(bce(discriminator(discriminatorInput(x, y)), 1), bce(discriminator(discriminatorInput(fake, y)), 0)) as TfCore.Scalar;
  // Phase 2: G's loss through D (D gets no gradients; its dropout still on), on fresh noise and
  // random digits.
  const phase2Loss = () => {
    const digits = randomDigits();
    return bce(discriminator(discriminatorInput(generator(generatorInput(noise(), digits)), digits)), 1);
  };
  let phase2Seeds = 0;
  const conditionalStep = (): T[] =>
    tf.tidy(() => {
      const fake = phase1Fake();
      const dLoss = dOptimizer.minimize(() => phase1Loss(fake), true, dVars)!;
      phase2Seeds = seedsDrawn;
      const gLoss = gOptimizer.minimize(phase2Loss, true, gVars)!;
      return [dLoss, gLoss];
    });

  const run = conditional ? conditionalStep : dcganStep;
  const what = conditional ? 'cGAN' : 'DCGAN';

  /**
   * Each network's update lowers its own loss: one step from fixed seeds (so its noise, dropout
   * masks and digits can be drawn again), then each loss recomputed on exactly those inputs with
   * its network updated and the other one as it was when that loss's gradient was taken (the
   * DCGAN: both networks before the step; the cGAN: G before it for D's loss, D after it for
   * G's). Returns [loss before, loss after] for D and for G.
   */
  const ownLossesAfterOneStep = async (): Promise<[number, number][]> => {
    const snapshot = (vars: TfCore.Variable[]) => vars.map((v) => tf.clone(v));
    const restore = (vars: TfCore.Variable[], values: T[]) => vars.forEach((v, i) => v.assign(values[i]));
    const read = async (t: T) => (await t.data())[0];
    const gBefore = snapshot(gVars);
    const dBefore = snapshot(dVars);
    seedsDrawn = 0;
    const [dLoss, gLoss] = run();
    const before = [await read(dLoss), await read(gLoss)];
    tf.dispose([dLoss, gLoss]);
    const gAfter = snapshot(gVars);
    const dAfter = snapshot(dVars);
    try {
      restore(gVars, gBefore);
      seedsDrawn = 0;
      const dAgain = tf.tidy(() => (conditional ? phase1Loss(phase1Fake()) : dcganLosses().dLoss));
      restore(gVars, gAfter);
      if (!conditional) restore(dVars, dBefore);
      seedsDrawn = conditional ? phase2Seeds : 0;
      const gAgain = tf.tidy(() => (conditional ? phase2Loss() : dcganLosses().gLoss));
      const after = [await read(dAgain), await read(gAgain)];
      tf.dispose([dAgain, gAgain]);
      return [[before[0], after[0]], [before[1], after[1]]];
    } finally {
      restore(gVars, gAfter);
      restore(dVars, dAfter);
      tf.dispose([...gBefore, ...dBefore, ...gAfter, ...dAfter]);
    }
  };

  return {
    step() {
      tf.dispose(run());
    },
    /**
     * Timed only if it trains: each network's update lowers its own loss on the inputs it was
     * computed from (ownLossesAfterOneStep: fails for a network updated from the other's loss,
     * with the wrong sign, or not at all), and one more step, with fresh noise, gives finite
     * losses and leaves as many live tfjs tensors as that first step did (lossesOfSteps).
     */
    async check() {
      fixedSeeds = 1000;
      let own: [number, number][];
      let live: number;
      try {
        own = await ownLossesAfterOneStep();
        live = tf.memory().numTensors;
      } finally {
        fixedSeeds = undefined;
      }
      const names = ['discriminator', 'generator'];
      own.forEach(([before, after], i) => {
        if (!(Number.isFinite(before) && after < before)) {
          throw new Error(`its ${what} step does not train: the ${names[i]}'s update moves its own loss from ${before.toFixed(5)} to ${after.toFixed(5)}`);
        }
      });
      await lossesOfSteps(tf, what, 1, run, live);
    },
    dispose() {
      gOptimizer.dispose();
      dOptimizer.dispose();
      tf.dispose([x, y, ...variables]);
    },
  };
}
