/**
 * Counts in user-visible text: "1 fault", "2 faults", "0 faults", "1 entry", "3 entries".
 * The one helper every view, hover, summary and status text uses for a count with its noun.
 */

/** Irregular plurals the UI uses; everything else takes "s". */
const IRREGULAR: Record<string, string> = { entry: "entries", bus: "buses", index: "indices", this: "these" };

/** The noun for `n` items: singular for exactly one (and minus one), plural otherwise. */
export function nounFor(n: number | bigint, singular: string, pluralForm?: string): string {
  const one = typeof n === "bigint" ? n === 1n || n === -1n : n === 1 || n === -1;
  if (one) return singular;
  return pluralForm ?? IRREGULAR[singular] ?? `${singular}s`;
}

/** `n` and its noun: plural(1, "fault") = "1 fault", plural(2, "entry") = "2 entries". */
export function plural(n: number | bigint, singular: string, pluralForm?: string): string {
  return `${n} ${nounFor(n, singular, pluralForm)}`;
}
