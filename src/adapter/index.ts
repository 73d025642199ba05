// The Socket.IO adapter lands with its issue.
export {}
