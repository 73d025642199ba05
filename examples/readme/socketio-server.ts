import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { Server } from 'socket.io'
import { io as connect } from 'socket.io-client'
import { createAdapter } from 'grapevine-gossip/socket.io'

const secret = process.env.CLUSTER_SECRET
if (secret === undefined || secret === '') throw new Error('set CLUSTER_SECRET')

/** One Socket.IO server with its own gossip node; in production, one per process or host. */
const start = async (seeds: string[]): Promise<{ io: Server, url: string, gossip: string }> => {
  const adapter = createAdapter({
    secret,          // every instance of the cluster shares it
    port: 0,         // where this node accepts gossip links; 0 picks a free port
    seeds            // other instances, host:port; a DNS name resolves to all its addresses
  })
  const httpServer = createServer()
  const io = new Server(httpServer, { adapter })
  io.on('connection', socket => {
    void socket.join('room:42')
  })
  io.on('ping', (from: string, reply: (answer: string) => void) => { reply(`pong to ${from}`) })
  await new Promise<void>(resolve => httpServer.listen(0, '127.0.0.1', resolve))
  const { port } = httpServer.address() as AddressInfo
  // The node the adapter spawned, to give its address to the next server as a seed.
  const node = await adapter.node()
  return { io, url: `http://127.0.0.1:${port}`, gossip: node.address }
}

const a = await start([])
const b = await start([a.gossip])

// A client of server b joins room:42 there.
const client = connect(b.url, { transports: ['websocket'] })
const received = new Promise<string>(resolve => client.on('hello', resolve))

// Servers find each other within moments; wait until a sees b's socket in the room.
while ((await a.io.in('room:42').fetchSockets()).length === 0) await sleep(50)

a.io.to('room:42').emit('hello', 'from server a')        // reaches room:42 on every server
console.log(`the client of server b got "${await received}"`)
console.log('servers in the cluster:', await a.io.of('/').adapter.serverCount())
const answers: string[] = await a.io.serverSideEmitWithAck('ping', 'a')  // one answer per other server
console.log('answers to a:', answers)

client.disconnect()
// io.close() closes the node the adapter spawned once the server's last namespace is closed.
await b.io.close()
await a.io.close()
