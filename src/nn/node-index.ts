// The `nn` namespace of the Node entry (node.ts): the browser-safe layers and checkpoint bytes of
// index.ts, plus checkpoint files.
export * from './index.ts';
export { saveCheckpoint, loadCheckpoint, readCheckpointInfo } from './checkpoint-file.ts';
