import Fastify from 'fastify'
import WebSocket from 'ws'
import grapevine from 'grapevine-gossip/fastify'
import { connect } from 'grapevine-gossip/browser'

const secret = process.env.CLUSTER_SECRET
if (secret === undefined || secret === '') throw new Error('set CLUSTER_SECRET')

// An instance serving the bridge at /gossip, for the clients below.
const app = Fastify()
await app.register(grapevine, { secret, port: 0, bridge: true })
const url = (await app.listen({ host: '127.0.0.1', port: 0 })).replace(/^http/, 'ws') + '/gossip'

// In a page: connect(`wss://${location.host}/gossip`) uses the browser's WebSocket. In Node 20,
// which has none, pass one: the `ws` package's class fits as it is.
const options = { WebSocket }
const alice = connect(url, options)
const bob = connect(url, options)
alice.on('open', () => console.log('alice: connected'))
alice.on('reconnecting', ({ attempt, delay }) => console.log(`alice: retry ${attempt} in ${delay} ms`))

// With a callback: text payloads arrive as strings, others as bytes.
const sub = alice.subscribe('room:42', msg => console.log('alice got', msg.data, 'from', msg.origin.slice(0, 8)))
await sub.ready                     // rejects with a BridgeError (code FORBIDDEN, ...) if refused
// Or as an async iterator; format 'binary' delivers every payload as a Uint8Array.
const bytes = alice.subscribe('room:42:bytes', undefined, { format: 'binary' })
await bytes.ready

await bob.publish('room:42', 'hello')                  // resolves once the bridge accepted it
await bob.publish('room:42:bytes', new Uint8Array([1, 2, 3]))
await bob.publish('room:42:bytes', 'hi')               // text, yet bytes for a binary subscription
let count = 0
for await (const msg of bytes) {
  console.log('alice got', msg.data, 'on', msg.topic)
  if (++count === 2) break          // leaving the loop unsubscribes
}

sub.unsubscribe()
alice.close()
bob.close()
await app.close()
