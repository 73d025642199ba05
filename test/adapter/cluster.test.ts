/**
 * Every adapter feature across three Socket.IO servers on networked gossip nodes, with messages
 * sent to each server directly (the default for a small cluster). See test/fixtures/adapter-suite.ts.
 */
import t from 'tap'
import { adapterSuite } from '../fixtures/adapter-suite.js'

await adapterSuite(t)
