// Package layers has no code. Its test holds the module to the layering that DESIGN.md
// draws: a transport knows nothing of sessions, and the embeddable client needs no
// config loader.
package layers
