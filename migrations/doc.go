// Package migrations embeds the versioned SQL schema of flowguard, in goose's
// file format (NNNNN_name.sql with Up and Down sections). Applied migrations
// are never edited; a change goes into a new numbered file.
package migrations

import "embed"

// FS holds every migration file, so the binaries carry their schema.
//
//go:embed *.sql
var FS embed.FS
