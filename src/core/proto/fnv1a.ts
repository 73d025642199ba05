/**
 * FNV-1a over a string's UTF-16 units: a fast hash for spreading and finding keys, not for
 * anything a peer must not be able to steer (give it a secret `basis` then, and mix the result).
 */
export const FNV1A_BASIS = 0x811c9dc5

/** The 32-bit hash of `text`, unsigned. */
export function fnv1a (text: string, basis = FNV1A_BASIS): number {
  let h = basis
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193)
  return h >>> 0
}
