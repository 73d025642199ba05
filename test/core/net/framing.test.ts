import t from 'tap'
import fc from 'fast-check'
import { FrameDecoder, FrameTooLargeError, frameBytes } from '../../../src/core/net/framing.js'

function bodies (sizes: number[]): Uint8Array[] {
  return sizes.map((size, i) => new Uint8Array(size).fill(i % 251))
}

function drain (decoder: FrameDecoder): Uint8Array[] {
  const out: Uint8Array[] = []
  for (let body = decoder.next(); body !== null; body = decoder.next()) out.push(body)
  return out
}

t.test('a frame is a 4-byte big-endian length followed by the body', async t => {
  t.same([...frameBytes(new Uint8Array([7, 8, 9]))], [0, 0, 0, 3, 7, 8, 9])
  t.same([...frameBytes(new Uint8Array(0x010203)).subarray(0, 4)], [0, 1, 2, 3])
})

t.test('frames come out whole and in order however the stream is split into chunks', async t => {
  fc.assert(fc.property(
    fc.array(fc.nat({ max: 3000 }), { minLength: 1, maxLength: 20, size: 'max' }),
    fc.array(fc.nat({ max: 5000 }), { maxLength: 30, size: 'max' }),
    (sizes, cuts) => {
      const input = bodies(sizes)
      const stream = Buffer.concat(input.map(frameBytes))
      const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((x, y) => x - y)
      const decoder = new FrameDecoder(4096)
      const out: Uint8Array[] = []
      let from = 0
      for (const point of [...points, stream.length]) {
        decoder.push(stream.subarray(from, point))
        out.push(...drain(decoder))
        from = point
      }
      t.equal(decoder.pending, 0)
      return out.length === input.length && out.every((body, i) => Buffer.from(body).equals(input[i]!))
    }), { numRuns: 500 })
})

t.test('a byte-at-a-time stream decodes the same frames', async t => {
  const input = bodies([0, 1, 300, 5])
  const stream = Buffer.concat(input.map(frameBytes))
  const decoder = new FrameDecoder(1000)
  const out: Uint8Array[] = []
  for (let i = 0; i < stream.length; i++) {
    decoder.push(stream.subarray(i, i + 1))
    out.push(...drain(decoder))
  }
  t.same(out.map((b) => b.byteLength), [0, 1, 300, 5])
})

t.test('a body inside one chunk is returned as a view of that chunk, not a copy', async t => {
  const chunk = frameBytes(new Uint8Array(100).fill(1))
  const decoder = new FrameDecoder(1000)
  decoder.push(chunk)
  t.equal(decoder.next()!.buffer, chunk.buffer)
})

t.test('an announced length over the limit is refused as soon as the header is read, before the body arrives', async t => {
  const decoder = new FrameDecoder(1024)
  decoder.push(new Uint8Array([0, 0, 4]))
  t.equal(decoder.next(), null, 'three header bytes are not enough to judge')
  decoder.push(new Uint8Array([1]))
  t.throws(() => decoder.next(), { code: 'ERR_GOSSIP_FRAME_TOO_LARGE', size: 1025, limit: 1024 })
  const huge = new FrameDecoder(1024)
  huge.push(new Uint8Array([0xff, 0xff, 0xff, 0xff]))
  try {
    huge.next()
    t.fail('a 4 GiB announcement was accepted')
  } catch (err) {
    t.ok(err instanceof FrameTooLargeError)
    t.equal((err as FrameTooLargeError).size, 0xffffffff)
  }
})

t.test('a frame of exactly the limit is accepted', async t => {
  const decoder = new FrameDecoder(1024)
  decoder.push(frameBytes(new Uint8Array(1024)))
  t.equal(decoder.next()?.byteLength, 1024)
})

t.test('a truncated frame stays pending and is reported by the pending byte count', async t => {
  const decoder = new FrameDecoder(1024)
  const whole = frameBytes(new Uint8Array(10))
  decoder.push(whole.subarray(0, 8))
  t.equal(decoder.next(), null)
  t.equal(decoder.pending, 8)
  decoder.push(whole.subarray(8))
  t.equal(decoder.next()?.byteLength, 10)
  t.equal(decoder.pending, 0)
})
