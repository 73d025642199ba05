console.log("Grapevine: the simulator showcase lands with the protocol core.")
