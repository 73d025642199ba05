import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Server } from 'socket.io'
import { io as connect } from 'socket.io-client'
import { createAdapter, createEmitter } from 'grapevine-gossip/socket.io'

const secret = process.env.CLUSTER_SECRET
if (secret === undefined || secret === '') throw new Error('set CLUSTER_SECRET')

// A Socket.IO server of the cluster (in production, in its own process), with a client in room:42.
const adapter = createAdapter({ secret, port: 0 })
const httpServer = createServer()
const io = new Server(httpServer, { adapter })
io.on('connection', socket => {
  void socket.join('room:42')
})
const reported = new Promise<string>(resolve => io.on('report', resolve))
await new Promise<void>(resolve => httpServer.listen(0, '127.0.0.1', resolve))
const { port } = httpServer.address() as AddressInfo
const seed = (await adapter.node()).address

const client = connect(`http://127.0.0.1:${port}`, { transports: ['websocket'] })
const received = new Promise<string>(resolve => client.on('invoice', resolve))
await new Promise<void>(resolve => client.once('connect', () => { resolve() }))

// The worker: it holds no sockets and joins the cluster only to emit.
const emitter = createEmitter({ secret, seeds: [seed] })
emitter.to('room:42').emit('invoice', 'paid')     // reaches room:42 on every server
emitter.serverSideEmit('report', 'invoice job')   // reaches io.on('report') on every server
console.log(`the client got "${await received}"`)
console.log(`the server heard: ${await reported}`)
console.log('servers in the cluster:', await io.of('/').adapter.serverCount())

await emitter.close()   // sends what is pending, then closes the node it spawned
client.disconnect()
await io.close()
