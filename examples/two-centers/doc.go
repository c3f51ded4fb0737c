// Package twocenters holds no code: it is the two-center example (sz.yaml, sh.yaml, the
// example backend in ./backend, README.md and run.sh). Its tests check the example's configs
// and run the README's claims end to end against the real bulwark binary.
package twocenters
