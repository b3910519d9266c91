// The framework's version, as package.json has it (a test keeps the two equal): the tuner keeps
// its kernel choices per version, since another version's kernels may differ.
export const VERSION = '0.1.0';
