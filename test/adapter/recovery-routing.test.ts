/**
 * Connection state recovery with room routing on (`roomRouting`): every test of recovery.test.ts.
 * A server keeps receiving the rooms of the sessions it keeps (they stay announced while their
 * sockets are away), and a server asked to restore a session it does not keep is sent everything
 * until the restored socket is in its rooms there, so the replay and the live packets miss nothing.
 */
import t from 'tap'
import { recoverySuite } from '../fixtures/recovery-suite.js'

// A short heartbeatTimeout: a server that never confirms (one test holds a server's messages back)
// holds a restore up for that long at most.
await recoverySuite(t, { roomRouting: true, heartbeatInterval: 1_000, heartbeatTimeout: 5_000 })
