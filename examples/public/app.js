// The demo page: a chat room with presence, on the Grapevine browser client. Everything here
// is ephemeral by design: a tab that opens later sees what is said from then on.
import { connect } from '/grapevine-browser.js'

const ROOM = 'chat:lobby'
const PRESENCE = 'chat:lobby:presence'
const HEARTBEAT_MS = 4000
const OFFLINE_AFTER_MS = 12000
const TYPING_SHOWN_MS = 3000

const $ = id => document.getElementById(id)
const me = {
  id: sessionStorage.getItem('gv-id') ?? crypto.randomUUID(),
  name: sessionStorage.getItem('gv-name') ?? `guest-${Math.floor(1000 + Math.random() * 9000)}`,
  instance: '?'
}
sessionStorage.setItem('gv-id', me.id)
$('name').value = me.name

const online = new Map() // id -> { name, instance, seen }
const typing = new Map() // id -> { name, until }

const gv = connect(`${window.location.protocol === 'https:' ? 'wss' : 'ws'}://${window.location.host}/gossip`)

function setStatus (state, text) {
  $('status').dataset.state = state
  $('status').textContent = text
}

gv.on('open', () => {
  setStatus('open', `connected to ${me.instance}`)
  announce('here')
})
gv.on('reconnecting', ({ delay }) => setStatus('connecting', `connection lost, retrying in ${Math.round(delay / 100) / 10} s…`))

function send (topic, payload) {
  gv.publish(topic, JSON.stringify(payload)).catch(err => console.warn('publish failed', err))
}

function announce (type) {
  send(PRESENCE, { type, id: me.id, name: me.name, instance: me.instance })
}

function addMessage ({ name, text, instance }, mine) {
  const li = document.createElement('li')
  if (mine) li.className = 'mine'
  const who = document.createElement('span')
  who.className = 'who'
  who.textContent = name
  const where = document.createElement('span')
  where.className = 'where'
  where.textContent = `via ${instance}`
  li.append(who, document.createTextNode(text), where)
  $('messages').append(li)
  li.scrollIntoView({ block: 'end' })
  return li
}

// One of ours: pending until the bridge accepts it, then sent; failed (with a Retry button)
// when the bridge refuses it, the link drops before it answers, or there is no link at all.
function setDelivery (li, state, note = '') {
  li.dataset.state = state
  li.querySelector('.state')?.remove()
  li.querySelector('.retry')?.remove()
  if (state === 'sent') return
  const label = document.createElement('span')
  label.className = 'state'
  label.textContent = note
  li.append(label)
  if (state === 'failed') {
    const retry = document.createElement('button')
    retry.type = 'button'
    retry.className = 'retry'
    retry.textContent = 'Retry'
    retry.addEventListener('click', () => deliver(li, li.payload))
    li.append(retry)
  }
}

function deliver (li, payload) {
  li.payload = payload
  if (!gv.connected) {
    setDelivery(li, 'failed', 'not sent: not connected')
    return
  }
  setDelivery(li, 'pending', 'sending…')
  gv.publish(ROOM, JSON.stringify(payload)).then(
    () => setDelivery(li, 'sent'),
    err => setDelivery(li, 'failed', `not sent: ${err?.code === 'DISCONNECTED' ? 'connection lost' : err?.reason || err?.message || 'refused'}`)
  )
}

function parse (message) {
  if (typeof message.data !== 'string') return undefined
  try {
    const payload = JSON.parse(message.data)
    return typeof payload === 'object' && payload !== null && typeof payload.id === 'string' ? payload : undefined
  } catch {
    return undefined
  }
}

// A retried message may already have arrived (the link dropped after the bridge took it).
const seen = new Set()
gv.subscribe(ROOM, message => {
  const payload = parse(message)
  if (payload?.type !== 'say' || typeof payload.text !== 'string') return
  if (typeof payload.mid === 'string') {
    if (seen.has(payload.mid)) return
    seen.add(payload.mid)
    if (seen.size > 1000) seen.delete(seen.values().next().value)
  }
  typing.delete(payload.id)
  addMessage({ name: String(payload.name), text: payload.text, instance: String(payload.instance) }, false)
  render()
})

gv.subscribe(PRESENCE, message => {
  const payload = parse(message)
  if (payload === undefined || payload.id === me.id) return
  const name = String(payload.name ?? 'someone')
  if (payload.type === 'bye') {
    online.delete(payload.id)
    typing.delete(payload.id)
  } else if (payload.type === 'here') {
    const known = online.has(payload.id)
    online.set(payload.id, { name, instance: String(payload.instance), seen: Date.now() })
    // Answer a newcomer at once instead of letting it wait for our next heartbeat.
    if (!known) announce('here')
  } else if (payload.type === 'typing') {
    typing.set(payload.id, { name, until: Date.now() + TYPING_SHOWN_MS })
  }
  render()
})

function render () {
  const now = Date.now()
  for (const [id, who] of online) if (now - who.seen > OFFLINE_AFTER_MS) online.delete(id)
  for (const [id, t] of typing) if (t.until < now) typing.delete(id)

  const list = $('online')
  list.replaceChildren(...[[me.id, { name: `${me.name} (you)`, instance: me.instance }], ...online].map(([, who]) => {
    const li = document.createElement('li')
    const where = document.createElement('span')
    where.className = 'where'
    where.textContent = ` on ${who.instance}`
    li.append(document.createTextNode(who.name), where)
    return li
  }))

  const names = [...typing.values()].map(t => t.name)
  $('typing').textContent = names.length === 0
    ? ''
    : `${names.join(', ')} ${names.length === 1 ? 'is' : 'are'} typing…`
}

let lastTyping = 0
$('text').addEventListener('input', () => {
  const now = Date.now()
  if (now - lastTyping > 1500 && $('text').value !== '') {
    lastTyping = now
    announce('typing')
  }
})

$('name').addEventListener('change', () => {
  me.name = $('name').value.trim().slice(0, 24) || me.name
  $('name').value = me.name
  sessionStorage.setItem('gv-name', me.name)
  announce('here')
  render()
})

$('composer').addEventListener('submit', event => {
  event.preventDefault()
  const text = $('text').value.trim()
  if (text === '') return
  $('text').value = ''
  lastTyping = 0
  // The bridge does not echo a sender's own messages: show ours right away, as pending.
  const li = addMessage({ name: me.name, text, instance: me.instance }, true)
  deliver(li, { type: 'say', id: me.id, mid: crypto.randomUUID(), name: me.name, text, instance: me.instance })
})

window.addEventListener('pagehide', () => announce('bye'))
setInterval(() => { if (gv.connected) announce('here') }, HEARTBEAT_MS)
setInterval(render, 1000)

fetch('/info').then(r => r.json()).then(info => {
  me.instance = info.name
  document.title = `Grapevine chat · ${info.name}`
  if (gv.connected) {
    setStatus('open', `connected to ${me.instance}`)
    announce('here')
  }
  render()
}).catch(() => {})
render()
