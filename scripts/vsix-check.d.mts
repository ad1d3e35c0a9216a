// Types of scripts/vsix-check.mjs for the TypeScript tests that import it.
export declare const MAX_VSIX_BYTES: number;
export declare const ALLOWED: readonly RegExp[];
export declare const RUNTIME_FILES: readonly string[];
export declare const FORBIDDEN: readonly RegExp[];
export declare function relativeLinks(markdown: string): string[];
export declare function imageSources(markdown: string): string[];
export declare function manifestFiles(pkg: unknown): string[];
export declare function checkVsix(v: { entries: Map<string, number>; bytes: number; pkg: unknown; readme: string }): string[];
