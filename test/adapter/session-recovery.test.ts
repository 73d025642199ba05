/**
 * What another server says in answer to a restore request is checked before the client gets it:
 * only a server asked may answer, only with the session asked for, under an id no socket here has.
 * (The whole exchange over real servers is in recovery.test.ts.)
 */
import t from 'tap'
import { silentLogger } from '../../src/core/logger.js'
import { SessionRecovery } from '../../src/adapter/session-recovery.js'
import type { RecoveryHost } from '../../src/adapter/session-recovery.js'
import type { RestoreRequest } from '../../src/adapter/envelope.js'

function recovery (connected: string[] = []): { r: SessionRecovery, requests: Array<RestoreRequest['data']> } {
  const requests: Array<RestoreRequest['data']> = []
  const host: RecoveryHost = {
    uid: 'me',
    nspName: '/',
    logger: silentLogger,
    frontier: () => new Map(),
    position: () => undefined,
    servers: () => ['keeper', 'other'],
    reachesLocalSocket: () => false,
    hasSocket: sid => connected.includes(sid),
    request: data => { requests.push(data) },
    respond: async () => {},
    handOver: () => {}
  }
  const r = new SessionRecovery(host, { maxAge: 60_000, maxSessions: 100, maxPackets: 100, maxBytes: 1 << 20, timeout: 200, catchUp: 100 })
  t.teardown(() => { r.close() })
  return { r, requests }
}

const session = (pid: string, sid = 'sid-1') => ({ sid, pid, rooms: ['red'], data: { name: 'x' } })

t.test('an answer from a server that was not asked, or naming another session, is not taken; the right one is', async t => {
  const { r, requests } = recovery()
  const restored = r.restore('pid-1', 'keeper-5')
  const { requestId } = requests[0]!
  r.onResponse('stranger', { requestId, found: true, session: session('pid-1'), packets: [], frontier: [] })
  r.onResponse('other', { requestId, found: true, session: session('pid-2'), packets: [], frontier: [] })
  t.equal(r.stats.asking, 1, 'both ignored: still asking')
  r.onResponse('keeper', { requestId, found: true, session: session('pid-1'), packets: [], frontier: [] })
  t.match(await restored, { sid: 'sid-1', pid: 'pid-1', rooms: ['red'] }, 'the keeper\'s answer restores the session')
})

t.test('an answer that would give the client the id of a socket connected here is not taken', async t => {
  const { r, requests } = recovery(['taken'])
  const restored = r.restore('pid-1', 'keeper-5')
  const { requestId } = requests[0]!
  r.onResponse('keeper', { requestId, found: true, session: session('pid-1', 'taken'), packets: [], frontier: [] })
  r.onResponse('other', { requestId, found: false })
  t.equal(await restored, null, 'the client gets a new session (the request times out)')
})
