// The seed's VAE training step (src/models/vae.ts) in TensorFlow.js, read from an instance of our
// Vae: its encoder's and decoder's layers (bench/peer/layers.ts), initial weights and Adam
// settings. The loss is Vae.lossTerms's: BCE on the decoder's logits summed per image, plus the
// KL term, both averaged over the batch; one Adam update through optimizer.minimize.

import type * as TfCore from '@tensorflow/tfjs-core';
import { createModel } from '../../src/models/kinds.ts';
import type { Vae } from '../../src/models/vae.ts';
import type { Module } from '../../src/nn/module.ts';
import type { PeerTrainStep } from '../peer-ops.ts';
import { assertCovers, readModel } from './layers.ts';
import { adamLike, fixedImages, lossesOfSteps, showLosses, type PeerTraining } from './training.ts';

type Tf = typeof TfCore;

/**
 * Our VAE's layers in the order VaeEncoder.encode (a trunk, then two heads on its output) and
 * VaeDecoder.logits apply them (checked to leave none out).
 */
export function vaeLayers(vae: Vae): { trunk: Module[]; zMean: Module[]; zLogVar: Module[]; decoder: Module[] } {
  const e = vae.encoder;
  const d = vae.decoder;
  const trunk = [e.conv1, e.conv2, e.flatten, e.dense];
  const decoder = [d.dense, d.reshape, d.deconv1, d.deconv2, d.deconv3];
  assertCovers(e, [...trunk, e.zMean, e.zLogVar]);
  assertCovers(d, decoder);
  return { trunk, zMean: [e.zMean], zLogVar: [e.zLogVar], decoder };
}

/** Our Vae.trainStep on the networks vaeLayers lists, with its loss (Vae.lossTerms). */
export async function vaeTrainStep(tf: Tf, s: Extract<PeerTrainStep, { model: 'vae' }>): Promise<PeerTraining> {
  const { batch } = s;
  const { parts, variables } = await readModel(tf, createModel('vae', s.config), async (vae, network) => {
    const layers = vaeLayers(vae);
    return {
      trunk: await network(layers.trunk),
      zMean: await network(layers.zMean),
      zLogVar: await network(layers.zLogVar),
      decoder: await network(layers.decoder),
      latent: vae.encoder.zMean.units,
      optimizer: adamLike(tf, vae.optimizer, 'VAE'),
    };
  });
  const { trunk, zMean, zLogVar, decoder, latent, optimizer } = parts;
  const trained = [trunk, zMean, zLogVar, decoder].flatMap((n) => n.trainable);
  // The images are what the decoder makes of a latent batch: [batch, 28, 28, 1].
  const x = fixedImages(tf, decoder.outputShape([batch, latent]), 600, s.pixelRange);

  const loss = (): TfCore.Scalar => {
    const h = trunk.forward(x);
    const mean = zMean.forward(h);
    const logVar = zLogVar.forward(h);
    const z = tf.add(mean, tf.mul(tf.exp(tf.mul(logVar, 0.5)), tf.randomNormal([batch, latent])));
    const logits = decoder.forward(z);
    const reconstruction = tf.div(tf.losses.sigmoidCrossEntropy(x, logits, undefined, 0, tf.Reduction.SUM), batch);
    const klTerms = tf.sub(tf.sub(tf.add(logVar, 1), tf.square(mean)), tf.exp(logVar));
    const kl = tf.mul(tf.sum(klTerms), -0.5 / batch);
    return tf.add(reconstruction, kl) as TfCore.Scalar;
  };

  return {
    step() {
      optimizer.minimize(loss, false, trained);
    },
    /** A step is timed only if it trains: finite losses that fall over 4 steps on one batch. */
    async check() {
      const [l] = await lossesOfSteps(tf, 'VAE', 4, () => [optimizer.minimize(loss, true, trained)!]);
      if (!(l[3] < l[0])) throw new Error(`its VAE step does not train: losses ${showLosses([l])}`);
    },
    dispose() {
      optimizer.dispose();
      tf.dispose([x, ...variables]);
    },
  };
}
