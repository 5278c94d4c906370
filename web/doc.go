// Package web serves the network app: the daemon's pages for a browser, behind a one-time login token.
//
// The app uses the daemon's local API and nothing else: pages are rendered
// on the server from an api.Service (the daemon itself, or an api.Client),
// and the browser's script calls the same api.Handler routes (/v1/…),
// mounted under the web server behind its authentication. Live attribute
// values come as server-sent events from the API's HomeWatch stream.
//
// Authentication (auth.go): `coco app` mints a one-time login token, an
// HMAC under a key kept in the home (web.key, mode 0600), so whoever can
// read the home, and no one else, can log in; the server exchanges the
// token for a session cookie (HttpOnly, SameSite=Strict) and refuses a
// token used once. A session is an HMAC under the same key (its ID and
// expiry), so it outlives a restart of the daemon; logged-out sessions and
// used tokens are kept revoked in the home (web.revoked) until they would
// expire, and "log out everywhere" (or RevokeAll) replaces the key. Every request must carry the cookie and a Host header
// naming the server (DNS rebinding); a request a browser marks as coming
// from another site, or with another Origin, is refused; state-changing
// requests must also carry the session's CSRF token in a header.
//
// Pages (one file each, template in assets/): networks, members and
// invites, devices (claim by code, camera or photo; OTA), resources by
// zone, scenes (a builder of selects), grants (several weekly windows),
// peers, usage (charts over the month from samples kept in web.usage,
// usage.go), the push server's tree, routers, aliases, servers and keys
// (push.go), drives (drive.go) and the consortium (consortium.go).
//
// Every asset is embedded (assets/): no CDN, no build step. The script is
// plain JavaScript (assets/app.js), small enough to read. One library is
// vendored: assets/jsQR.js, jsQR 1.4.0 from npm, unmodified (Apache-2.0,
// its licence beside it, served at /static/jsQR-LICENSE.txt), the QR
// decoder that reads a claim code from the camera or a photo where the
// browser has no BarcodeDetector (Chromium and Firefox on desktop Linux,
// Firefox everywhere); it is loaded only when a scan starts.
package web
