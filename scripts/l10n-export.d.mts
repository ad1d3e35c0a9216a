// Types of scripts/l10n-export.mjs (test/unit/l10n.test.ts imports it).
export type BundleValue = string | { message: string; comment: string[] };
export declare const L10N_SOURCES: string[];
export declare const BUNDLE: string;
export declare function extractFrom(text: string): { messages: { key: string; value: BundleValue }[]; dynamic: number[] };
export declare function extract(base?: string): { bundle: Record<string, BundleValue>; dynamic: string[] };
export declare function serialize(bundle: Record<string, BundleValue>): string;
