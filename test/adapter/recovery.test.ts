/**
 * Socket.IO connection state recovery with the gossip adapter: three real Socket.IO servers on
 * real gossip nodes (TCP on 127.0.0.1), real socket.io-client clients that reconnect on their own
 * through a load balancer, which decides whether they come back to the same server or another.
 */
import t from 'tap'
import { recoverySuite } from '../fixtures/recovery-suite.js'

await recoverySuite(t)
