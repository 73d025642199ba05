// The functions of sodium-native (libsodium bindings, shipped prebuilt) that Grapevine uses.
/* eslint-disable camelcase -- the names are libsodium's */
declare module 'sodium-native' {
  export function crypto_sign_detached (signature: Uint8Array, message: Uint8Array, secretKey: Uint8Array): void
  export function crypto_sign_verify_detached (signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean
  /** BLAKE2b of `input`, `output.byteLength` bytes long. */
  export function crypto_generichash (output: Uint8Array, input: Uint8Array, key?: Uint8Array): void
  /** BLAKE2b of the concatenation of `inputs`, `output.byteLength` bytes long. */
  export function crypto_generichash_batch (output: Uint8Array, inputs: Uint8Array[], key?: Uint8Array): void
  export const crypto_secretstream_xchacha20poly1305_ABYTES: number
  export const crypto_secretstream_xchacha20poly1305_HEADERBYTES: number
  export const crypto_secretstream_xchacha20poly1305_STATEBYTES: number
  export const crypto_secretstream_xchacha20poly1305_KEYBYTES: number
  export const crypto_secretstream_xchacha20poly1305_TAG_MESSAGE: number
  export function crypto_secretstream_xchacha20poly1305_init_push (state: Uint8Array, header: Uint8Array, key: Uint8Array): void
  export function crypto_secretstream_xchacha20poly1305_init_pull (state: Uint8Array, header: Uint8Array, key: Uint8Array): void
  /** Encrypts `message` into `cipher` (a tag byte, the text, a 16-byte MAC); returns the bytes written. */
  export function crypto_secretstream_xchacha20poly1305_push (state: Uint8Array, cipher: Uint8Array, message: Uint8Array, ad: Uint8Array | null, tag: number): number
  /** Decrypts `cipher` into `message`, the tag into `tag[0]`; throws when it does not authenticate. */
  export function crypto_secretstream_xchacha20poly1305_pull (state: Uint8Array, message: Uint8Array, tag: Uint8Array, cipher: Uint8Array, ad: Uint8Array | null): number
}
