// Runs before the dashboard's page.js: the page then takes its snapshots from the simulation
// replay (replay.js, a module) instead of an instance's live stream.
window.__clusterSource = {
  start (show, status) {
    status('connecting', 'loading the trace…')
    import(document.body.dataset.base + '/replay.js')
      .then(replay => replay.start(show, status))
      .catch(err => {
        console.error('replay: cannot start', err)
        status('error', 'replay failed: ' + err.message)
      })
  }
}
