// Package notmain is a library, not a plugin.
package notmain

// X exists so the package is not empty.
const X = 1
