// Package mercure serves the Mercure protocol (Internet-Draft
// draft-dunglas-mercure-07, as the Mercure hub 0.x implements it) on top of a
// hub.Hub: subscribing with server-sent events, publishing with HTML forms,
// JWT authorization, CORS, and the active subscriptions API and events.
//
// A Handler answers under /.well-known/mercure; mount it at the root of a
// server mux or behind any router that keeps the request path intact.
package mercure
