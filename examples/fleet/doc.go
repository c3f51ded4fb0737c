// Package fleetexample holds two gateway configs of one center that form a fleet through one
// Redis; its test checks that they load and agree. See sz-1.yaml for how to run them.
package fleetexample
