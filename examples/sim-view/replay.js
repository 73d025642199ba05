// The simulation replay in the dashboard page: a time slider over a trace that `bench:sim --trace`
// wrote. The page's own code draws; this module only hands it the snapshot of the chosen time
// (TraceReplay, src/core/sim/trace-format.ts, served compiled) and adds the slider, play, the
// delivery of each message along the time-line, and the bench's figures next to the replay's.
// Its model is window.__simReplay. URL parameters: ?t=<ms> starts there, ?play=1&speed=<x> plays.
/* global location, requestAnimationFrame */
import { TraceReplay, readTrace } from './trace-format.js'

const SPEEDS = [1, 5, 10, 30, 60]
/** Real ms between two snapshots while playing: the layout animates in between. */
const SHOW_EVERY = 100

function h (tag, attrs = {}, text) {
  const e = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v)
  if (text !== undefined) e.textContent = text
  return e
}

function svg (tag, attrs = {}) {
  const e = document.createElementNS('http://www.w3.org/2000/svg', tag)
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v))
  return e
}

const seconds = ms => (ms / 1000).toFixed(1) + ' s'
const pct = r => r === null || r === undefined ? '–' : (r * 100).toFixed(r === 1 ? 0 : 1) + ' %'
const ms = v => v === null || v === undefined ? '–' : Math.round(v) + ' ms'

export async function start (show, status) {
  const base = document.body.dataset.base
  const response = await fetch(`${base}/trace.json`)
  if (!response.ok) throw new Error(`trace: HTTP ${response.status}`)
  const trace = readTrace(await response.text())
  const replay = new TraceReplay(trace)
  const recovery = replay.recovery()
  const params = new URLSearchParams(location.search)

  document.title = `Grapevine replay: ${trace.scenario}, ${trace.nodes} nodes`
  document.querySelector('h1').textContent = 'Grapevine simulation replay'

  const slider = h('input', { id: 'replay-time', type: 'range', min: '0', max: String(trace.end), step: '10', 'aria-label': 'simulated time' })
  const play = h('button', { id: 'replay-play', type: 'button' }, 'play')
  const clock = h('output', { id: 'replay-clock' })
  const speed = h('select', { id: 'replay-speed', 'aria-label': 'speed' })
  for (const s of SPEEDS) speed.appendChild(h('option', { value: String(s) }, `${s}×`))
  speed.value = params.get('speed') ?? '10'
  const jumps = h('span', { class: 'jumps' })
  const marks = replay.markers()
  const firstMessage = replay.figures[0]?.publishedAt
  const stops = [...(firstMessage === undefined ? [] : [{ t: firstMessage - 1, label: 'before the first broadcast' }]), ...marks]
  for (const m of stops) {
    const b = h('button', { type: 'button', 'data-t': String(m.t) }, `${m.label} (${seconds(m.t)})`)
    b.addEventListener('click', () => { pause(); seek(m.t) })
    jumps.appendChild(b)
  }
  const figures = h('div', { class: 'figures', id: 'replay-figures' })
  const bench = h('div', { class: 'figures', id: 'replay-bench' })
  const chart = svg('svg', { id: 'replay-chart', viewBox: '0 0 1000 44', preserveAspectRatio: 'none', role: 'img', 'aria-label': 'delivery of each message over time' })
  const cursor = svg('line', { class: 'cursor', y1: 0, y2: 44 })
  const bar = h('section', { id: 'replay' })
  const controls = h('div', { class: 'controls' })
  controls.append(play, slider, clock, speed, jumps)
  bar.append(controls, chart, figures, bench)
  document.querySelector('header').after(bar)

  // Each message a bar as high as the share of its recipients it reached: red when short.
  const x = t => (t / Math.max(1, trace.end)) * 1000
  chart.appendChild(svg('line', { class: 'axis', x1: 0, x2: 1000, y1: 43, y2: 43 }))
  const stride = Math.max(1, Math.ceil(replay.figures.length / 2000))
  replay.figures.forEach((f, i) => {
    if (i % stride !== 0 && f.reliability === 1) return
    const height = Math.max(1, f.reliability * 40)
    chart.appendChild(svg('rect', { class: f.reliability === 1 ? 'ok' : 'short', x: x(f.publishedAt).toFixed(1), width: 2, y: (43 - height).toFixed(1), height: height.toFixed(1) }))
  })
  for (const m of marks) chart.appendChild(svg('line', { class: 'mark', x1: x(m.t), x2: x(m.t), y1: 0, y2: 44 }))
  chart.appendChild(cursor)

  const b = trace.result
  const benchFigures = []
  if (recovery.killedAt !== null) {
    benchFigures.push(['after the kill: 1st message', `${pct(recovery.firstReliability)} (bench ${pct(b.firstReliability)})`],
      ['mean delivery', `${pct(recovery.reliability)} (bench ${pct(b.reliability)})`],
      ['100 % again after', `${ms(recovery.recoveryMs)} (bench ${ms(b.recoveryMs)})`])
  }
  if (recovery.mendedAt !== null) benchFigures.push(['healed after the mend', `${ms(recovery.healMs)} (bench ${ms(b.healMs)})`])
  if (trace.drawEvery > 1) benchFigures.push(['drawn', `every ${trace.drawEvery}th node of ${trace.nodes}; counts are the whole run's`])
  if (trace.truncatedAt !== null) benchFigures.push(['links recorded until', seconds(trace.truncatedAt)])
  for (const [k, v] of benchFigures) { const s = h('span', {}, k + ' '); s.appendChild(h('b', {}, v)); bench.appendChild(s) }

  const model = {
    scenario: trace.scenario,
    nodes: trace.nodes,
    seed: trace.seed,
    end: trace.end,
    drawEvery: trace.drawEvery,
    markers: marks,
    recovery,
    bench: trace.result,
    time: 0,
    stats: null,
    playing: false,
    seek: t => seek(t),
    play: () => resume(),
    pause: () => pause()
  }
  window.__simReplay = model

  let topicPicked = false
  function seek (t) {
    const time = Math.max(0, Math.min(trace.end, Math.round(t)))
    replay.seek(time)
    show(replay.snapshot())
    // The topic's tree is the point of a replay: pick it once it is listed.
    const select = document.getElementById('topic')
    if (!topicPicked && [...select.options].some(o => o.value === trace.topic)) {
      topicPicked = true
      select.value = trace.topic
      select.dispatchEvent(new Event('change'))
    }
    const s = replay.stats()
    model.time = time
    model.stats = s
    slider.value = String(time)
    clock.value = `${seconds(time)} / ${seconds(trace.end)}`
    cursor.setAttribute('x1', x(time)); cursor.setAttribute('x2', x(time))
    const m = s.lastMessage
    figures.replaceChildren(...[
      ['alive', String(s.alive)], ['killed', String(s.dead)], ['components', String(s.components)], ['links', String(s.links)],
      ['messages', String(s.messagesPublished)],
      ['last message', m === null ? '–' : `${m.deliveredNow}/${m.recipients} so far, ${m.delivered}/${m.recipients} (${pct(m.reliability)}) in the end`],
      ...(s.partitioned ? [['network', 'partitioned']] : [])
    ].map(([k, v]) => { const e = h('span', {}, k + ' '); e.appendChild(h('b', { 'data-figure': k }, v)); return e }))
  }

  let last = 0
  let lastShown = 0
  let time = 0
  function frame (now) {
    if (!model.playing) return
    time = Math.min(trace.end, time + (now - last) * Number(speed.value))
    last = now
    if (now - lastShown >= SHOW_EVERY || time >= trace.end) {
      lastShown = now
      seek(time)
    }
    if (time >= trace.end) pause()
    else requestAnimationFrame(frame)
  }
  function resume () {
    if (model.playing) return
    if (model.time >= trace.end) seek(0)
    time = model.time
    model.playing = true
    play.textContent = 'pause'
    last = performance.now()
    requestAnimationFrame(frame)
  }
  function pause () {
    model.playing = false
    play.textContent = 'play'
  }
  play.addEventListener('click', () => (model.playing ? pause() : resume()))
  slider.addEventListener('input', () => { pause(); seek(Number(slider.value)) })

  status('open', `replay: ${trace.scenario}, ${trace.nodes} nodes, seed ${trace.seed}`)
  const startAt = params.has('t') ? Number(params.get('t')) : (firstMessage ?? trace.end) - 1
  seek(Number.isFinite(startAt) ? startAt : 0)
  if (params.get('play') === '1') resume()
}
