/**
 * A PASID as a user types it (Translate Address): hex with 0x or decimal, `_` allowed, at most 20
 * bits (PCIe PASID TLP prefix: PASID[19:0]). Pure: the host's input box and the tests use it.
 */
/** null for empty (a request without PASID); undefined when malformed or wider than 20 bits. */
export function parsePasid(text: string): number | null | undefined {
  const t = text.trim().replace(/_/g, "");
  if (t === "") return null;
  if (!/^(0x[0-9a-f]+|\d+)$/i.test(t)) return undefined;
  const v = Number(t);
  return Number.isSafeInteger(v) && v <= 0xfffff ? v : undefined;
}
