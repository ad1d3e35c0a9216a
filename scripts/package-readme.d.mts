export function packagedReadme(markdown: string): string;
export const PACKAGED_README: string;
