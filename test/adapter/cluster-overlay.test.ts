/**
 * Every adapter feature across three Socket.IO servers on networked gossip nodes, with every
 * message going through the overlay's broadcast tree (directFanout 0, as in a large cluster).
 */
import t from 'tap'
import { adapterSuite } from '../fixtures/adapter-suite.js'

await adapterSuite(t, { directFanout: 0 })
