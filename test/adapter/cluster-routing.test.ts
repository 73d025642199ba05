/**
 * Every adapter feature across three Socket.IO servers with room routing on (`roomRouting`): room
 * broadcasts go only to the servers with a member; everything must behave as without it.
 */
import t from 'tap'
import { adapterSuite } from '../fixtures/adapter-suite.js'

await adapterSuite(t, { roomRouting: true })
