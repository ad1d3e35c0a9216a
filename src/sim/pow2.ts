/**
 * Powers of two as doubles, for hot paths that split addresses held in a JavaScript number (below
 * 2^53): `2 ** n` with a variable n and `x % 2 ** n` compile to calls into the runtime (pow, fmod)
 * in V8, while a table load, a multiplication by an exact power of two and Math.floor stay inline.
 * Every result here is exact: multiplying by 2^±n only changes the exponent (no value here is
 * near the subnormal range), and the products and differences are integers below 2^53.
 *
 * Pure module: no vscode, no Node built-ins.
 */

/** POW2[n] = 2^n, n = 0..64. */
export const POW2 = Float64Array.from({ length: 65 }, (_, n) => 2 ** n);
/** INV_POW2[n] = 2^-n, n = 0..64. */
export const INV_POW2 = Float64Array.from({ length: 65 }, (_, n) => 2 ** -n);

/** floor(x / 2^n) for an integer 0 <= x < 2^53. */
export function shrPow2(x: number, n: number): number {
  return Math.floor(x * INV_POW2[n]!);
}

/** x with its low n bits cleared (x - x % 2^n) for an integer 0 <= x < 2^53. */
export function floorPow2(x: number, n: number): number {
  return Math.floor(x * INV_POW2[n]!) * POW2[n]!;
}

/** x % 2^n for an integer 0 <= x < 2^53. */
export function modPow2(x: number, n: number): number {
  return x - Math.floor(x * INV_POW2[n]!) * POW2[n]!;
}
