// Losses for nn users, in one place. The math lives in core (softmax-ops.ts, loss-ops.ts); this
// module only gathers it under the names PyTorch and Keras users look for.

export { crossEntropy, softmax, logSoftmax, type CrossEntropyOptions, type LossReduction } from '../core/softmax-ops.ts';
export { binaryCrossEntropyWithLogits, mseLoss, type LossOptions } from '../core/loss-ops.ts';
