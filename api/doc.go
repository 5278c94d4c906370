// Package api is coconet's local REST API: the Service that the daemon
// implements, an HTTP handler serving it on the daemon's unix socket (whose
// 0600 mode is the access control), and a Client that the CLI uses. The
// OpenAPI document is openapi.yaml, served at /v1/openapi.yaml.
package api
