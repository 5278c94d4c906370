// Package api is coconet's local REST API: its Service, server and Client.
//
// The daemon implements Service and serves it (Handler) on its unix
// socket, whose 0600 mode is the access control; the CLI calls it through
// a Client. Every endpoint is one route of one table (route.go): its
// method and path, its request and response types, and the Service method
// it calls. The server registers every route of the table, each Client
// method is one line that calls its route, and TestOpenAPI fails when the
// table and the OpenAPI document (openapi.yaml, served at
// /v1/openapi.yaml) disagree.
//
// The API owns its wire types: every request and answer is a type of this
// package (in the file of its feature), never a struct of the engine or of
// a feature package, so that renaming a field there cannot change the REST
// API; the daemon converts. api imports, of coconet's own packages, only
// identity and ledger (for UserID and NetworkID, whose JSON is their text
// form); TestImports holds it to that, and TestWire pins the JSON.
package api
