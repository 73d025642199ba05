import t, { type Test } from 'tap'
import net from 'node:net'
import { once } from 'node:events'
import { NoiseSecretStream } from '../../../src/core/net/noise-stream.js'
import { SecretChannel } from '../../../src/core/net/secret-channel.js'
import { eventually } from '../../fixtures/net.js'

interface End {
  write: (data: Uint8Array) => boolean
  on: (event: string, listener: (...args: any[]) => void) => unknown
  once: (event: string, listener: (...args: any[]) => void) => unknown
  destroy: (err?: Error) => void
  handshakeHash: Uint8Array | null
  remotePublicKey: Uint8Array | null
}
type Make = (isInitiator: boolean, socket: net.Socket, options: { keyPair: { publicKey: Buffer, secretKey: Buffer } }) => End

const channel: Make = (i, s, o) => new SecretChannel(i, s, o) as unknown as End
const secretStream: Make = (i, s, o) => new NoiseSecretStream(i, s, o) as unknown as End

/** A connected pair of TCP sockets on loopback. */
async function sockets (t: Test): Promise<[net.Socket, net.Socket]> {
  const server = net.createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const accepted = once(server, 'connection')
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1')
  await once(client, 'connect')
  const [socket] = await accepted as [net.Socket]
  t.teardown(() => { client.destroy(); socket.destroy(); server.close() })
  return [client, socket]
}

async function connected (t: Test, makeA: Make, makeB: Make): Promise<{ a: End, b: End, keys: Array<{ publicKey: Buffer, secretKey: Buffer }> }> {
  const [x, y] = await sockets(t)
  const keys = [NoiseSecretStream.keyPair(), NoiseSecretStream.keyPair()]
  const a = makeA(true, x, { keyPair: keys[0]! })
  const b = makeB(false, y, { keyPair: keys[1]! })
  await Promise.all([once(a as any, 'connect'), once(b as any, 'connect')])
  return { a, b, keys }
}

/** Collects what `end` reads until `bytes` have come. */
async function read (end: End, bytes: number): Promise<Buffer> {
  const chunks: Buffer[] = []
  let got = 0
  return await new Promise(resolve => {
    end.on('data', (chunk: Buffer) => {
      chunks.push(Buffer.from(chunk))
      got += chunk.byteLength
      if (got >= bytes) resolve(Buffer.concat(chunks))
    })
  })
}

for (const [name, makeA, makeB] of [
  ['our channel dialling secret-stream', channel, secretStream],
  ['secret-stream dialling our channel', secretStream, channel],
  ['our channel on both ends', channel, channel]
] as Array<[string, Make, Make]>) {
  t.test(`${name}: one handshake, the same keys and hash, messages both ways in order, large ones too`, async t => {
    const { a, b, keys } = await connected(t, makeA, makeB)
    t.same(Buffer.from(a.handshakeHash!), Buffer.from(b.handshakeHash!), 'both ends agree on the handshake hash')
    t.same(Buffer.from(a.remotePublicKey!), keys[1]!.publicKey, 'the dialler knows the listener\'s key')
    t.same(Buffer.from(b.remotePublicKey!), keys[0]!.publicKey, 'and the listener the dialler\'s')
    // 200 small messages and one of 300 KB, which spans many socket reads.
    const small = Array.from({ length: 200 }, (_, i) => Buffer.from(`message ${i};`))
    const large = Buffer.alloc(300_000, 7)
    const expected = Buffer.concat([...small, large])
    const toB = read(b, expected.byteLength)
    const toA = read(a, expected.byteLength)
    for (const m of small) { a.write(m); b.write(m) }
    a.write(large)
    b.write(large)
    t.same(await toB, expected, 'what the dialler wrote arrived, in order')
    t.same(await toA, expected, 'and what the listener wrote')
  })
}

t.test('before the handshake, a message announced longer than a handshake message is refused before anything is allocated for it', async t => {
  const [x, y] = await sockets(t)
  const listener = new SecretChannel(false, y, { keyPair: NoiseSecretStream.keyPair() })
  const failed = once(listener, 'error')
  // A 24-bit length of 16 MiB - 1 and one byte of it.
  x.write(Buffer.from([0xff, 0xff, 0xff, 0]))
  const [err] = await failed as [Error]
  t.match(err.message, /a message of 16777215 bytes exceeds the limit of 4096/)
  await once(listener, 'close')
  t.ok(listener.destroyed, 'the channel closed')
  const { a, b } = await connected(t, channel, channel)
  const got = read(b, 5)
  a.write(Buffer.from('still'))
  t.equal((await got).toString(), 'still', 'other channels work as before')
})

t.test('paused, a channel hands over nothing; what came meanwhile, its end and its close follow on resume, in that order', async t => {
  const { a, b } = await connected(t, channel, channel)
  const events: string[] = []
  const channelB = b as unknown as SecretChannel
  channelB.pause()
  b.on('data', (chunk: Buffer) => { events.push(`data ${Buffer.from(chunk).toString()}`) })
  b.on('end', () => { events.push('end') })
  const closed = once(b as any, 'close')
  b.on('close', () => { events.push('close') })
  a.write(Buffer.from('one'))
  a.write(Buffer.from('two'))
  ;(a as unknown as SecretChannel).end()
  await new Promise(resolve => setTimeout(resolve, 200))
  t.same(events, [], 'nothing while paused, though the peer wrote and ended')
  channelB.resume()
  channelB.end()
  await closed
  t.same(events, ['data one', 'data two', 'end', 'close'])
})

t.test('a byte changed on the way after the handshake: the receiver fails with an error, hands nothing over and closes', async t => {
  // A relay between the two ends that flips the last byte of what it forwards once told to.
  const [x, y] = await sockets(t)
  const target = net.createServer()
  target.listen(0, '127.0.0.1')
  await once(target, 'listening')
  t.teardown(() => { target.close() })
  const accepted = once(target, 'connection')
  const upstream = net.connect((target.address() as net.AddressInfo).port, '127.0.0.1')
  await once(upstream, 'connect')
  const [far] = await accepted as [net.Socket]
  t.teardown(() => { upstream.destroy(); far.destroy() })
  let tamper = false
  y.on('data', (chunk: Buffer) => {
    const copy = Buffer.from(chunk)
    if (tamper) copy[copy.byteLength - 1]! ^= 1
    upstream.write(copy)
  })
  upstream.on('data', (chunk: Buffer) => { y.write(chunk) })
  const a = new SecretChannel(true, x, { keyPair: NoiseSecretStream.keyPair() })
  const b = new SecretChannel(false, far, { keyPair: NoiseSecretStream.keyPair() })
  a.on('error', () => {})
  await Promise.all([once(a, 'connect'), once(b, 'connect')])
  await new Promise(resolve => setTimeout(resolve, 100))
  const failed = once(b, 'error')
  const data: Buffer[] = []
  b.on('data', (chunk: Buffer) => { data.push(chunk) })
  tamper = true
  a.write(Buffer.alloc(1000, 1))
  const [err] = await failed as [Error]
  t.ok(err instanceof Error, `the receiver failed: ${err.message}`)
  t.same(data, [], 'and handed nothing over')
  await once(b, 'close')
  t.ok(b.destroyed)
})

t.test('three channels writing with their readers stalled, then let go: every byte arrives as written, in order', async t => {
  // About 20 MB a channel, more than the kernel's socket buffers hold, so that writes wait in the
  // sockets' own queues while the readers are paused.
  const pairs = await Promise.all([0, 1, 2].map(async () => await connected(t, channel, channel)))
  let seed = 11
  const next = (n: number): number => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n }
  const sent = pairs.map(() => [] as Buffer[])
  const received = pairs.map(({ b }) => {
    const chunks: Buffer[] = []
    ;(b as unknown as SecretChannel).pause()
    b.on('data', (chunk: Buffer) => { chunks.push(Buffer.from(chunk)) })
    return chunks
  })
  for (let i = 0; i < 1500; i++) {
    const p = next(3)
    const size = next(4) === 0 ? 1 + next(100_000) : 1 + next(2_000)
    const message = Buffer.alloc(size, i & 0xff)
    if (size >= 4) message.writeUInt32BE(i, 0)
    sent[p]!.push(message)
    // Half through alloc (encrypted in place), half as a copy.
    if (i % 2 === 0) {
      const out = (pairs[p]!.a as unknown as SecretChannel).alloc(size)
      out.set(message)
      pairs[p]!.a.write(out)
    } else {
      pairs[p]!.a.write(message)
    }
    if (i % 50 === 0) await new Promise(resolve => setImmediate(resolve))
  }
  await new Promise(resolve => setTimeout(resolve, 100))
  for (const { b } of pairs) (b as unknown as SecretChannel).resume()
  const total = sent.map(list => list.reduce((n, m) => n + m.byteLength, 0))
  await eventually(() => received.every((chunks, p) => chunks.reduce((n, c) => n + c.byteLength, 0) >= total[p]!), 'every byte to arrive')
  for (const p of [0, 1, 2]) t.same(Buffer.concat(received[p]!), Buffer.concat(sent[p]!), `channel ${p}: ${sent[p]!.length} messages, ${total[p]} bytes, intact and in order`)
})
