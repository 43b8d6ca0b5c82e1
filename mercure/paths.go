package mercure

// Path is where the Mercure protocol lives on a hub's origin.
const Path = "/.well-known/mercure"

// subscriptionsPath is the root of the active subscriptions API and of the
// topics of subscription events.
const subscriptionsPath = Path + "/subscriptions"
