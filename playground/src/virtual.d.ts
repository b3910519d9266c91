// Modules playground/build.ts makes up while it bundles the page.

declare module 'virtual:reference-sources' {
  /** The TypeScript source of each float64 reference the ladder shows, cut from its kernel file. */
  export const REFERENCE_SOURCES: Record<'matmul' | 'conv2d' | 'activation', { file: string; name: string; source: string }>;
}
