import t from 'tap'
import { FNV1A_BASIS, fnv1a } from '../../../src/core/proto/fnv1a.js'

t.test('FNV-1a gives the published 32-bit values, unsigned', async t => {
  t.equal(fnv1a(''), FNV1A_BASIS)
  t.equal(fnv1a('a'), 0xe40c292c)
  t.equal(fnv1a('foobar'), 0xbf9cf968)
  t.ok(fnv1a('foobar') > 0x7fffffff, 'a value with the top bit set stays positive')
})

t.test('another basis gives other values for the same text', async t => {
  t.not(fnv1a('foobar', FNV1A_BASIS ^ 1), fnv1a('foobar'))
})
