// Every kernel: pure Program builders (WGSL + thread layout, no GPU work) beside the float64
// references they are tested against. Run a Program with `runProgram` (src/core/dispatch.ts).
export * from './program.ts';
export * from './shapes.ts';
export * from './activation.ts';
export * from './elementwise.ts';
export * from './copy.ts';
export * from './gather.ts';
export * from './matmul.ts';
export * from './onehot.ts';
export * from './optimizers.ts';
export * from './peak.ts';
export * from './random.ts';
export * from './reduce.ts';
export * from './softmax.ts';
export * from './conv/geometry.ts';
export * from './conv/conv2d.ts';
export { subgroupPays } from './conv/conv2d-subgroup.ts';
export { BLOCKED_MIN_COLUMNS } from './conv/conv2d-blocked.ts';
export { winogradFits, WINOGRAD_RULE, winogradTileReference } from './conv/conv2d-winograd.ts';
export * from './conv/conv2d-transpose.ts';
export * from './batchnorm.ts';
export * from './dropout.ts';
