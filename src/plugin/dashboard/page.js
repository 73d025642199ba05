// The dashboard page: draws the cluster snapshots the instance streams (Server-Sent Events) with a
// d3-force layout. Node objects live as long as their node does, so positions carry over from one
// snapshot to the next and the picture stays put while nodes come and go. The latest model is
// window.__clusterView, for tests and for people poking at it in the console.
/* global d3, EventSource */
(function () {
  'use strict'
  const base = document.body.dataset.base
  const SVG = 'http://www.w3.org/2000/svg'
  const $ = id => document.getElementById(id)
  const svg = $('graph')
  const linkLayer = $('links')
  const nodeLayer = $('nodes')

  /** id -> simulation node ({ id, x, y, vx, vy, data }); kept across snapshots. */
  const simNodes = new Map()
  /** id -> <g>; "a b" -> <line> */
  const nodeEls = new Map()
  const linkEls = new Map()
  let simLinks = []
  let topologyKey = ''
  let snapshot = null
  let selectedNode = null
  let selectedTopic = ''

  const model = { snapshot: null, selectedTopic: '', components: 0, silentComponents: 0, nodes: [], links: [], frames: 0 }
  window.__clusterView = model

  const size = () => {
    const r = svg.getBoundingClientRect()
    return { w: Math.max(200, r.width), h: Math.max(200, r.height) }
  }

  const simulation = d3.forceSimulation([])
    .force('link', d3.forceLink([]).id(d => d.id).distance(110).strength(0.5))
    .force('charge', d3.forceManyBody().strength(-400).distanceMax(500))
    .force('x', d3.forceX().strength(0.04))
    .force('y', d3.forceY().strength(0.06))
    .force('collide', d3.forceCollide(18))
    .alphaDecay(0.03)
    .on('tick', draw)
  centre()
  window.addEventListener('resize', () => { centre(); simulation.alpha(0.1).restart() })

  function centre () {
    const { w, h } = size()
    simulation.force('x').x(w / 2)
    simulation.force('y').y(h / 2)
  }

  function fmt (n, unit = '') {
    if (n === undefined || n === null) return '–'
    const abs = Math.abs(n)
    const s = abs >= 1e6 ? (n / 1e6).toFixed(1) + ' M' : abs >= 1e4 ? (n / 1e3).toFixed(1) + ' k' : abs >= 100 ? n.toFixed(0) : abs >= 10 ? n.toFixed(1) : n.toFixed(2).replace(/\.?0+$/, '')
    return s + unit
  }
  function duration (ms) {
    if (ms === undefined) return '–'
    const s = Math.floor(ms / 1000)
    if (s < 120) return s + ' s'
    if (s < 7200) return Math.floor(s / 60) + ' min'
    if (s < 172800) return Math.floor(s / 3600) + ' h'
    return Math.floor(s / 86400) + ' d'
  }
  function bytes (n) { return n === undefined ? '–' : fmt(n, 'B') }

  function el (tag, attrs = {}, text) {
    const e = document.createElementNS(tag === 'table' || tag === 'tr' || tag === 'td' || tag === 'th' || tag === 'p' || tag === 'h2' || tag === 'option' ? 'http://www.w3.org/1999/xhtml' : SVG, tag)
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v)
    if (text !== undefined) e.textContent = text
    return e
  }

  function table (rows) {
    const t = el('table')
    for (const row of rows) {
      const tr = el('tr')
      row.forEach((cell, i) => tr.appendChild(el(i === 0 ? 'th' : 'td', {}, String(cell))))
      t.appendChild(tr)
    }
    return t
  }

  /**
   * A link holds two nodes together unless one end is still heard and the other has fallen silent:
   * from one side of a partition the far side goes quiet with its links as last reported, and the
   * near side's links to it are the first thing the cut takes. So the silent nodes form a
   * component of their own (or several), drawn apart, until they speak again or leave; from one
   * side a partition and a crash look alike.
   */
  function holds (state, l) {
    const a = state.get(l.a)
    const b = state.get(l.b)
    return !((a === 'live' && b === 'stale') || (a === 'stale' && b === 'live'))
  }

  /**
   * id -> component number, over the nodes that publish summaries, heard or fallen silent; and how
   * many components are silent ones (a link never holds a heard node to a silent one, so a
   * component is all heard or all silent).
   */
  function components (snap) {
    const state = new Map(snap.nodes.map(n => [n.id, n.state]))
    const next = new Map(snap.nodes.filter(n => n.state !== 'unknown').map(n => [n.id, []]))
    for (const l of snap.links) {
      if (next.has(l.a) && next.has(l.b) && holds(state, l)) { next.get(l.a).push(l.b); next.get(l.b).push(l.a) }
    }
    const of = new Map()
    let count = 0
    let silent = 0
    for (const id of next.keys()) {
      if (of.has(id)) continue
      if (state.get(id) === 'stale') silent++
      const stack = [id]
      of.set(id, count)
      while (stack.length > 0) {
        for (const m of next.get(stack.pop())) if (!of.has(m)) { of.set(m, count); stack.push(m) }
      }
      count++
    }
    return { count, silent, of }
  }

  function apply (snap) {
    snapshot = snap
    const { w, h } = size()
    const present = new Set(snap.nodes.map(n => n.id))
    for (const id of [...simNodes.keys()]) {
      if (!present.has(id)) { simNodes.delete(id); nodeEls.get(id)?.remove(); nodeEls.delete(id) }
    }
    const neighbourOf = new Map()
    for (const l of snap.links) { neighbourOf.set(l.a, l.b); neighbourOf.set(l.b, l.a) }
    for (const n of snap.nodes) {
      let s = simNodes.get(n.id)
      if (s === undefined) {
        // A newcomer starts next to a node it links to, so the layout around it barely moves.
        const near = simNodes.get(neighbourOf.get(n.id))
        s = near !== undefined
          ? { id: n.id, x: near.x + (Math.random() - 0.5) * 40, y: near.y + (Math.random() - 0.5) * 40 }
          : { id: n.id, x: w / 2 + (Math.random() - 0.5) * w / 3, y: h / 2 + (Math.random() - 0.5) * h / 3 }
        simNodes.set(n.id, s)
      }
      s.data = n
    }
    const state = new Map(snap.nodes.map(n => [n.id, n.state]))
    simLinks = snap.links.filter(l => simNodes.has(l.a) && simNodes.has(l.b) && holds(state, l)).map(l => ({ source: l.a, target: l.b, data: l }))
    const parts = components(snap)
    const key = [...simNodes.keys()].sort().join() + '|' + simLinks.map(l => l.source + l.target).sort().join()
    const topic = snap.topics.find(t => t.id === selectedTopic)
    renderTopics(snap)
    renderLinks(snap, topic)
    renderNodes(snap, topic, parts)
    if (key !== topologyKey) {
      topologyKey = key
      simulation.nodes([...simNodes.values()])
      simulation.force('link').links(simLinks)
      simulation.alpha(Math.max(simulation.alpha(), 0.4)).restart()
    }
    draw()
    renderTotals(snap, parts)
    renderNodeDetail()
    renderTopicDetail(topic)
    model.snapshot = snap
    model.selectedTopic = selectedTopic
  }

  function renderTotals (snap, parts) {
    const live = snap.nodes.filter(n => n.state === 'live').length
    const stale = snap.nodes.filter(n => n.state === 'stale').length
    $('node-count').textContent = live + (stale > 0 ? ` (+${stale} silent)` : '')
    $('link-count').textContent = String(snap.links.length)
    $('messages-rate').textContent = fmt(snap.messagesPerSecond)
    $('deliveries-rate').textContent = fmt(snap.deliveriesPerSecond)
    model.components = parts.count
    model.silentComponents = parts.silent
    $('component-count').textContent = String(parts.count - parts.silent) + (parts.silent > 0 ? ` (+${parts.silent} silent)` : '')
    $('component-count').dataset.partitioned = String(parts.count > 1)
  }

  function renderTopics (snap) {
    const select = $('topic')
    const wanted = ['', ...snap.topics.map(t => t.id)]
    const have = [...select.options].map(o => o.value)
    if (wanted.join() !== have.join()) {
      select.replaceChildren(el('option', { value: '' }, 'all links'))
      for (const t of snap.topics) select.appendChild(el('option', { value: t.id }, `${t.name ?? t.id.slice(0, 8)} (${t.members.length})`))
      select.value = snap.topics.some(t => t.id === selectedTopic) ? selectedTopic : ''
    } else {
      snap.topics.forEach((t, i) => { select.options[i + 1].textContent = `${t.name ?? t.id.slice(0, 8)} (${t.members.length})` })
    }
  }

  function renderLinks (snap, topic) {
    const kind = new Map()
    if (topic !== undefined) for (const e of topic.edges) kind.set(e.a + ' ' + e.b, e.eager ? 'eager' : 'lazy')
    const state = new Map(snap.nodes.map(n => [n.id, n.state]))
    const wanted = new Map(snap.links.map(l => [l.a + ' ' + l.b, l]))
    // A topic edge whose link a summary left out (too many links to list) is drawn all the same.
    if (topic !== undefined) for (const e of topic.edges) if (!wanted.has(e.a + ' ' + e.b)) wanted.set(e.a + ' ' + e.b, { a: e.a, b: e.b })
    for (const [k, line] of linkEls) if (!wanted.has(k)) { line.remove(); linkEls.delete(k) }
    for (const [k, l] of wanted) {
      if (!simNodes.has(l.a) || !simNodes.has(l.b)) continue
      let line = linkEls.get(k)
      if (line === undefined) {
        line = el('line', { 'data-a': l.a, 'data-b': l.b })
        line.appendChild(el('title'))
        linkLayer.appendChild(line)
        linkEls.set(k, line)
      }
      line.dataset.kind = topic === undefined ? 'link' : kind.get(k) ?? 'other'
      line.dataset.dead = String(state.get(l.a) === 'stale' || state.get(l.b) === 'stale')
      line.firstChild.textContent = `${l.a.slice(0, 8)} – ${l.b.slice(0, 8)}${l.rtt !== undefined ? `, rtt ${l.rtt} ms` : ''}`
    }
    model.links = [...linkEls.values()].map(line => ({ a: line.dataset.a, b: line.dataset.b, kind: line.dataset.kind }))
  }

  function renderNodes (snap, topic, parts) {
    const members = topic === undefined ? null : new Set(topic.members)
    for (const n of snap.nodes) {
      let g = nodeEls.get(n.id)
      if (g === undefined) {
        g = el('g', { 'data-node': n.id })
        g.appendChild(el('circle', { r: 9 }))
        g.appendChild(el('text', { x: 12, y: 4 }))
        g.appendChild(el('title'))
        g.addEventListener('click', () => { selectedNode = n.id; apply(snapshot) })
        nodeLayer.appendChild(g)
        nodeEls.set(n.id, g)
      }
      g.dataset.state = n.state
      g.dataset.health = n.health
      g.dataset.self = String(n.self)
      g.dataset.selected = String(n.id === selectedNode)
      g.dataset.member = members === null ? 'true' : String(members.has(n.id))
      if (parts.of.has(n.id)) g.dataset.component = String(parts.of.get(n.id))
      else delete g.dataset.component
      g.querySelector('circle').setAttribute('r', n.self ? 11 : 9)
      g.querySelector('text').textContent = n.address ?? n.short
      g.querySelector('title').textContent = n.state === 'unknown'
        ? `${n.short}: publishes no summary`
        : `${n.short} ${n.address}\nup ${duration(n.uptime)}, ${n.topics} topics, ${n.links} links${n.state === 'stale' ? `\nsilent ${duration(n.silentFor)} (${n.staleReason})` : ''}`
    }
    model.nodes = snap.nodes.map(n => {
      const s = simNodes.get(n.id)
      return { id: n.id, state: n.state, health: n.health, address: n.address, component: parts.of.get(n.id), x: s?.x, y: s?.y }
    })
  }

  function draw () {
    model.frames++
    for (const [id, g] of nodeEls) {
      const s = simNodes.get(id)
      if (s !== undefined) g.setAttribute('transform', `translate(${s.x.toFixed(1)},${s.y.toFixed(1)})`)
    }
    for (const line of linkEls.values()) {
      const a = simNodes.get(line.dataset.a)
      const b = simNodes.get(line.dataset.b)
      if (a === undefined || b === undefined) continue
      line.setAttribute('x1', a.x.toFixed(1)); line.setAttribute('y1', a.y.toFixed(1))
      line.setAttribute('x2', b.x.toFixed(1)); line.setAttribute('y2', b.y.toFixed(1))
    }
  }

  function renderNodeDetail () {
    const pane = $('node-detail')
    const n = snapshot?.nodes.find(x => x.id === selectedNode)
    if (n === undefined) return
    const rows = [['id', n.id.slice(0, 16) + '…'], ['state', n.state + (n.staleReason ? ` (${n.staleReason})` : '')]]
    if (n.state !== 'unknown') {
      const r = n.rates
      rows.push(['address', n.address], ['uptime', duration(n.uptime)], ['last heard', duration(n.silentFor) + ' ago'],
        ['topics', n.topics], ['links', n.links], ['published/s', fmt(r.published)], ['delivered/s', fmt(r.delivered)],
        ['duplicates/s', fmt(r.duplicates)], ['payload in/out', `${bytes(r.bytesIn)}/s / ${bytes(r.bytesOut)}/s`],
        ['wire in/out', `${bytes(r.wireIn)}/s / ${bytes(r.wireOut)}/s`],
        ['queued', `${n.queues.pendingPublishes} publishes, ${n.queues.subscriberBuffered} unread, ${bytes(n.queues.linkBuffered)} unsent`])
    }
    const links = snapshot.links.filter(l => l.a === n.id || l.b === n.id)
      .map(l => [(l.a === n.id ? l.b : l.a).slice(0, 8), l.rtt === undefined ? 'rtt –' : `rtt ${l.rtt} ms`])
    pane.replaceChildren(el('h2', {}, 'Node ' + n.short), table(rows))
    if (links.length > 0) pane.appendChild(table([['link', 'round trip'], ...links]))
  }

  function renderTopicDetail (topic) {
    const pane = $('topic-detail')
    if (topic === undefined) {
      pane.replaceChildren(el('h2', {}, 'Topics'), table([['topic', 'members', 'delivered/s', 'dup/s'],
        ...snapshot.topics.slice(0, 50).map(t => [t.name ?? t.id.slice(0, 8), t.members.length, fmt(t.delivered), fmt(t.duplicates)])]))
      return
    }
    const eager = topic.edges.filter(e => e.eager).length
    pane.replaceChildren(el('h2', {}, 'Topic ' + (topic.name ?? topic.id.slice(0, 8))), table([
      ['members', topic.members.length], ['tree edges', eager], ['lazy edges', topic.edges.length - eager],
      ['published/s', fmt(topic.published)], ['delivered/s', fmt(topic.delivered)], ['duplicates/s', fmt(topic.duplicates)]
    ]))
  }

  $('topic').addEventListener('change', e => {
    selectedTopic = e.target.value
    if (snapshot !== null) apply(snapshot)
  })

  const status = (state, text) => { $('status').dataset.state = state; $('status').textContent = text }
  // Where snapshots come from: this instance's Server-Sent Events, unless a script that ran before
  // this one set window.__clusterSource (the simulator's replay, examples/sim-view.ts).
  const live = {
    start (show) {
      const source = new EventSource(`${base}/events`)
      source.onopen = () => status('open', 'live')
      source.onerror = () => status('error', 'reconnecting…')
      source.onmessage = event => {
        try {
          show(JSON.parse(event.data))
        } catch (err) {
          console.error('dashboard: bad snapshot', err)
        }
      }
    }
  }
  ;(window.__clusterSource ?? live).start(apply, status)
})()
