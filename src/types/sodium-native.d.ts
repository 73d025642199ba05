// The functions of sodium-native (libsodium bindings, shipped prebuilt) that Grapevine uses.
declare module 'sodium-native' {
  export function crypto_sign_detached (signature: Uint8Array, message: Uint8Array, secretKey: Uint8Array): void
  export function crypto_sign_verify_detached (signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean
  /** BLAKE2b of the concatenation of `inputs`, `output.byteLength` bytes long. */
  /** BLAKE2b of `input`, `output.byteLength` bytes long. */
  export function crypto_generichash (output: Uint8Array, input: Uint8Array, key?: Uint8Array): void
  export function crypto_generichash_batch (output: Uint8Array, inputs: Uint8Array[], key?: Uint8Array): void
}
